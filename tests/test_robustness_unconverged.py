"""The robustness map marks converged cells whose runs did not converge (issue 18)."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd

from vqlib.analysis import verdicts


def _grid():
    grid = pd.DataFrame({"seeds-budget": ["holds", "does not hold", "holds"], "converged": ["holds", "inconclusive", ""],
                         "holds in": ["2/2", "0/2", "1/1"]}, index=["a", "b", "c"])
    table = pd.DataFrame({"id": ["a", "a", "b", "b", "c"], "chapter": ["testbed", "testbed", "convergence", "convergence", "scale"],
                          "regime": ["seeds-budget", "converged", "seeds-budget", "converged", "seeds-budget"],
                          "claim": ["A", "A", "B", "B", "C"]})
    return grid, table


def test_only_converged_cells_of_chapters_below_the_goal_are_marked():
    grid, table = _grid()
    assert verdicts.unconverged_cells(table, {"testbed": 0.98, "convergence": 0.6}) == [("b", "converged")]
    assert verdicts.unconverged_cells(table, {"testbed": 0.94, "convergence": 0.95}) == [("a", "converged")]
    assert verdicts.unconverged_cells(table, {}) == []


def test_marked_cells_are_hatched_with_a_dagger_and_a_legend_entry():
    grid, table = _grid()
    fig = verdicts.robustness_figure(grid, table, [("b", "converged")])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts].count("†") == 1
    assert any(p.get_hatch() == "///" for p in ax.patches)
    assert any("stop rule" in t.get_text() for t in fig.legends[0].get_texts())
    plain = verdicts.robustness_figure(grid, table)
    assert "†" not in [t.get_text() for t in plain.axes[0].texts]
    assert not any("stop rule" in t.get_text() for t in plain.legends[0].get_texts())


def test_met_text():
    assert verdicts.met_text({"testbed": 0.984, "convergence": 0.5}) == "98 % (testbed), 50 % (convergence)"
    assert verdicts.met_text({}) == "–"


def test_only_the_claims_of_the_chapter_whose_study_is_below_the_goal_are_marked():
    """The MLP study decides the real-data chapter's claims and the convolutional study those of its own chapter."""
    table = pd.DataFrame({"id": ["realdata-x", "realconv-x", "realconv-y"], "chapter": ["realdata", "realconv", "realconv"],
                          "regime": ["converged", "converged", "seeds-budget"], "claim": ["X", "X", "Y"]})
    assert verdicts.unconverged_cells(table, {"realdata": 0.99, "realconv": 0.6}) == [("realconv-x", "converged")]
    assert verdicts.unconverged_cells(table, {"realdata": 0.5, "realconv": 0.96}) == [("realdata-x", "converged")]


def test_met_shares_read_each_studys_own_tables(monkeypatch):
    """The commitment study keeps met_rule in its two sweep tables and the initialization study in `codebook`, not in a
    `final` table; fixed-budget rows (NaN) do not count."""
    from vqlib import results

    tables = {"commitment_noise": {"beta_final": pd.DataFrame({"met_rule": [True, False, None]}),
                                   "sigma_final": pd.DataFrame({"met_rule": [True, True]})},
              "initialization": {"codebook": pd.DataFrame({"met_rule": [True, None]})},
              "scale": {"final": pd.DataFrame({"dead_codes": [1]})}}
    monkeypatch.setattr(results, "load", lambda study, params: tables[study])
    studies = {s: verdicts.CONVERGED_STUDIES[s] for s in tables}
    assert verdicts.met_shares(studies) == {"commitment_noise": 0.75, "initialization": 1.0}
