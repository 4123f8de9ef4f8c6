"""The book's notebooks: every .md/.ipynb pair in sync and executed after the last change to its inputs."""

import jupytext
import nbformat
import pytest

from vqlib.runner.chapters import ROOT, chapter_sources, inputs_hash

CHAPTERS = chapter_sources()


def test_there_are_chapters():
    assert [p.stem for p in CHAPTERS][:1] == ["testbed"]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_pair_in_sync(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{md} has no paired {ipynb.name}: run `make book`"
    source = jupytext.read(md)
    executed = nbformat.read(ipynb, as_version=4)
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert cells(executed) == cells(source), f"{ipynb.name} is out of sync with {md.name}: run `make book`"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_executed_with_current_sources(md):
    executed = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    recorded = executed.metadata.get("vqbook", {}).get("inputs_hash")
    assert recorded == inputs_hash(md), f"{md.name} or vqlib changed after {md.stem}.ipynb was executed: run `make book`"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_no_errors_in_outputs(md):
    executed = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


# Provenance: every table a chapter shows carries its numbers (CSV, exported beside the page by _ext/provenance.py).


def test_a_table_carries_its_numbers_as_csv():
    import pandas as pd

    from vqlib import report

    shown = report.table(pd.DataFrame({"claim": ['<span id="claim-x"></span>Words'], "value": ["1.5 [1, 2]"]}), "tbl-x", "A table.")
    data, meta = shown._repr_mimebundle_()
    assert "text/markdown" in data and "tbl-x" in data["text/markdown"]
    assert meta[report.TABLE_META] == {"name": "tbl-x", "csv": "claim,value\nWords,\"1.5 [1, 2]\"\n"}  # markup left out
    numbers = pd.DataFrame({"mean": [1.5], "low": [1.0]})
    _, meta = report.table(shown.frame, "tbl-y", "Another.", numbers)._repr_mimebundle_()
    assert meta[report.TABLE_META]["csv"] == "mean,low\n1.5,1.0\n"  # the numbers given, not the words shown


def test_claims_are_shown_in_words():
    import pandas as pd

    from vqlib import report
    from vqlib.claim_registry import CLAIMS

    cid, spec = next(iter(CLAIMS.items()))
    shown = report.in_words(pd.DataFrame({"claim": [cid], "ema": ["holds"]}))
    assert list(shown.columns) == ["claim", "ema"]
    assert shown.claim[0] == f'<span id="claim-{cid}"></span>{spec.label}' and spec.label and cid not in spec.label
    assert report.in_words(pd.DataFrame({"id": ["not-in-registry"]}), "id", anchors=False).claim[0] == "not-in-registry"
    assert report.claim_label("not-in-registry", "the seed's words") == "the seed's words"


def test_every_notebook_table_has_a_unique_name_and_its_csv():
    import json

    names = []
    for md in CHAPTERS:
        nb = json.loads(md.with_suffix(".ipynb").read_text())
        shown = [o for c in nb["cells"] for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})
                 and "```{table}" in "".join(o["data"]["text/markdown"])]
        records = [o["metadata"]["vqbook_table"] for o in shown]  # a KeyError names a table without its numbers
        assert all(r["csv"].count("\n") >= 2 for r in records), md.name  # a header and at least one row
        names += [r["name"] for r in records]
    assert len(names) >= 40 and len(names) == len(set(names))


def test_the_remake_command_gives_the_chapter_its_parameters_as_run():
    import shlex
    import sys

    sys.path.insert(0, str(ROOT / "_ext"))
    import provenance

    from vqlib.runner.chapters import chapter_defaults, parse_value, read_chapter, resolve_params

    md = ROOT / "book" / "testbed.md"
    words = shlex.split(provenance.command(md))
    assert words[:4] == ["python", "-m", "vqlib.run", "book/testbed.md"]
    given = {words[i + 1]: parse_value(words[i + 2]) for i in range(4, len(words), 3) if words[i] == "-p"}
    defaults = chapter_defaults(read_chapter(md))
    assert given == defaults and resolve_params(defaults, given) == resolve_params(defaults, {})


def test_a_finding_says_what_the_judge_recorded():
    import pandas as pd

    from vqlib import findings

    def table(verdict: str, holm: str) -> pd.DataFrame:
        rows = [("scale-85-fewer-dead", r, v, m) for r, v, m in [
            ("seeds-budget", verdict, "K = 32: 21.6 [9.09, 55.3] %; K = 64: 5.36 [1.77, 14.7] % (CI half-width 23.1 % vs margin 85.0 %)"),
            ("ema", "holds", "K = 32: 90.1 [86.0, 94.2] %"), ("sgd", "inconclusive", "K = 32: 80.0 [60.0, 99.0] % (n ≈ 12 would decide)")]]
        frame = pd.DataFrame(rows, columns=["id", "regime", "verdict", "measured"]).assign(claim="the seed's words")
        return frame.assign(verdict_holm=[holm, "holds", "inconclusive"])

    held = findings.statement(table("holds", "holds"), "scale-85-fewer-dead", "seeds-budget")
    assert held == "“85 % fewer dead codes at K ≥ 32” holds in the seeds-budget regime: K = 32: 21.6 [9.09, 55.3] % …; it holds in 2 of 3 training regimes."
    failed = findings.statement(table("does not hold", "inconclusive"), "scale-85-fewer-dead", "seeds-budget")
    assert "does not hold in the seeds-budget regime" in failed and "(inconclusive after Holm's correction)" in failed
    assert "holds in 1 of 3 training regimes" in failed
    assert findings.still_open(table("holds", "holds")).endswith("in the sgd regime, measured K = 32: 80.0 [60.0, 99.0] %, would take about 12 paired seeds.")
    assert "not judged" in findings.statement(table("holds", "holds"), "no-such-claim")


def test_every_regime_dependent_claim_of_the_book_states_its_mechanism_or_that_none_was_identified():
    import pandas as pd

    from vqlib import claims, report
    from vqlib.analysis import verdicts
    from vqlib.claim_mechanisms import MECHANISMS, NOT_IDENTIFIED
    from vqlib.regimes import REGIMES

    others = [md for md in CHAPTERS if md.stem != "verdicts"]
    collected = pd.concat([report.collect_claims([md.with_suffix(".ipynb")]).assign(chapter=md.stem) for md in others],
                          ignore_index=True)
    grid = claims.by_regime(verdicts.table(collected, []), list(REGIMES))
    dependent = verdicts.regime_dependent(grid)
    shown = verdicts.mechanisms(grid)
    assert dependent and list(shown.claim) == [report.claim_label(c) for c in dependent]
    statement = shown.iloc[:, -1]
    assert all(s == NOT_IDENTIFIED or s in MECHANISMS.values() for s in statement)
    assert (statement != NOT_IDENTIFIED).any()  # the chapters found the mechanism of some
