"""Readings, tables and figures of the estimator chapters (scale, subspace, multimodal) from their stored study tables.

Pure pandas/numpy over the studies' tidy frames (one row per regime × setting × method × seed); figures are drawn
with matplotlib through vqlib.plotting. Nothing here trains.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from vqlib import plotting, stats


def per_seed(frame: pd.DataFrame, method: str, column: str) -> np.ndarray:
    """`column` of `method`'s rows in seed order (the frame filtered to one case)."""
    return frame[frame.method == method].sort_values("seed")[column].to_numpy()


def paired_table(
    final: pd.DataFrame, groups: dict[str, list], others: list[str], columns: list[tuple[str, str, str]], names: dict[str, str],
    reference: str = "ste",
) -> pd.DataFrame:
    """Each method of `others` against `reference` on the same seeds, in every combination of `groups` (column -> values).

    `columns` are (label, kind, metric): kind "difference" (mean [95 % CI] of b − a), "relative" (of (b − a)/a, in %)
    or "reduction" (1 − mean b / mean a in %, paired bootstrap, :func:`vqlib.stats.reduction_bootstrap`). Rows run over
    the groups' values in the given order (the first varying slowest), then over `others`.
    """
    rows = []
    for values in itertools.product(*groups.values()):
        sub = final[np.logical_and.reduce([final[g] == v for g, v in zip(groups, values)])]
        for o in others:
            row = {**dict(zip(groups, values)), "method": names[o]}
            for label, kind, col in columns:
                a, b = per_seed(sub, reference, col), per_seed(sub, o, col)
                if kind == "difference":
                    row[label] = stats.paired(a, b).difference.format()
                elif kind == "relative":
                    row[label] = stats.paired(a, b).relative.scaled(100).format()
                elif kind == "reduction":
                    row[label] = stats.reduction_bootstrap(a, b)[0].scaled(100).format()
                else:
                    raise ValueError(f"kind must be difference, relative or reduction, got {kind!r}")
            rows.append(row)
    return pd.DataFrame(rows)


def summary_table(final: pd.DataFrame, keys: list[str], columns: dict[str, str], names: dict[str, str]):
    """Mean [95 % CI] over seeds of each metric of `columns` (metric -> shown name) per `keys` (in order of appearance).

    Returns (shown, numbers) as :func:`vqlib.stats.summarize_by`; the shown frame has methods by `names` and the
    columns renamed.
    """
    shown, numbers = stats.summarize_by(final, keys, list(columns))
    shown["method"] = shown.method.map(names)
    return shown.rename(columns=columns), numbers


def verdict_values(prefix: str, ids: list[str], keys: list[str], outcomes: pd.DataFrame, verdicts: pd.DataFrame,
                   regimes: list[str]) -> dict[str, str]:
    """Glue values of claims judged per regime: `<prefix>_v_<key>` (each regime's verdict and in how many it holds)
    and `<prefix>_m_<key>` (what was measured in the first regime). `verdicts` is :func:`vqlib.claims.by_regime`."""
    out = {}
    for cid, key in zip(ids, keys):
        row = outcomes[outcomes.id == cid].set_index("regime")
        out[f"{prefix}_v_{key}"] = "; ".join(f"{r}: {row.verdict[r]}" for r in regimes) + f" (holds in {verdicts.loc[cid, 'holds in']})"
        out[f"{prefix}_m_{key}"] = row.measured[regimes[0]]
    return out


def regime_dependence(ids: list[str], verdicts: pd.DataFrame, regimes: list[str]) -> tuple[str, str]:
    """(claims whose verdict changes between regimes, claims with one verdict in every regime), as text ("none" if empty)."""
    depends = [c for c in ids if verdicts.loc[c, regimes].nunique() > 1]
    return ", ".join(depends) or "none", ", ".join(c for c in ids if c not in depends) or "none"


def by_method(frame: pd.DataFrame, methods: list[str], column: str, names: dict[str, str], unit: str = "") -> str:
    """'<method> mean [CI]<unit>; …' over seeds of `column`, for each method in turn."""
    return "; ".join(f"{names[k]} {stats.mean_ci(per_seed(frame, k, column)).format()}{unit}" for k in methods)


# --- Codebook size (book/scale.md) ---------------------------------------------------------------------


def scale_table(final: pd.DataFrame, names: dict[str, str]):
    """The codebook-size table: every metric per (regime, K, method), with log2 K beside K. Returns (shown, numbers)."""
    shown, numbers = summary_table(final, ["regime", "K", "method"], {
        "dead_codes": "dead codes", "entropy_bits": "entropy (bits)", "perplexity": "perplexity", "recon_mse": "recon MSE",
        "excess_sq_error": "excess over floor", "z_norm": "‖z‖", "gap_db": "gap to D(R) (dB)"}, names)
    shown.insert(5, "log2 K", [f"{np.log2(K):.0f}" for K in shown.K])
    return shown, numbers


def scale_figure(final: pd.DataFrame, methods: list[str], regimes: list[str], K_list: list[int], names: dict[str, str]):
    """Dead codes (% of K), entropy and gap to D(R) against K, one row of panels per regime."""
    import matplotlib.pyplot as plt

    fig, grid_axes = plt.subplots(len(regimes), 3, figsize=(10, 2.8 * len(regimes)), squeeze=False, sharey="col")
    for axes, r in zip(grid_axes, regimes):
        for name in methods:
            f = final[(final.method == name) & (final.regime == r)]
            for ax, col in zip(axes, ["dead_pct", "entropy_bits", "gap_db"]):
                plotting.mean_ci_errorbar(ax, f, "K", col, names[name], plotting.COLORS[name])
        axes[1].plot(K_list, np.log2(K_list), "k:", label="log2 K")
        axes[0].set(xscale="log", xlabel="codebook size K", ylabel=f"{r}\ndead codes (% of K)")
        axes[1].set(xscale="log", xlabel="codebook size K", ylabel="entropy (bits)")
        axes[2].set(xscale="log", xlabel="codebook size K", ylabel="gap to D(R) (dB)")
        for ax in axes:
            ax.set_xticks(K_list, [str(K) for K in K_list])
    grid_axes[0, 1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def time_table(times: pd.DataFrame, methods: list[str], names: dict[str, str], reference: str = "ste", short: str = "STE") -> pd.DataFrame:
    """Median wall time per step of each method per K (ms), and its ratio to `reference`'s (named `short` in the headers)."""
    per_step = times.groupby(["K", "method"], sort=False).seconds_per_step.median().unstack()[methods]
    shown = pd.DataFrame({"K": per_step.index})
    for name in methods:
        shown[f"{names[name]} (ms)"] = [f"{1000 * v:.3g}" for v in per_step[name]]
    for name in methods:
        if name != reference:
            shown[f"{names[name]} / {short}"] = [f"{v:.3g}" for v in per_step[name] / per_step[reference]]
    return shown


def scale_focus_K(K_list: list[int]) -> int:
    """The codebook size the chapter looks at closely: 64 where swept, else the largest."""
    return 64 if 64 in K_list else K_list[-1]


def dead_start_end(final: pd.DataFrame, history: pd.DataFrame, K: int, regime: str, methods: list[str], names: dict[str, str]):
    """(STE's dead codes at step 0, every method's after training) at codebook size K in `regime`, as text."""
    start = history[(history.K == K) & (history.regime == regime) & (history.step == 0) & (history.method == "ste")]
    end = final[(final.K == K) & (final.regime == regime)]
    return stats.mean_ci(start.dead_codes.to_numpy()).format(), by_method(end, methods, "dead_codes", names)


# --- Subspace recovery (book/subspace.md) ---------------------------------------------------------------

#: The step the subspace chapter reads its early state at: the testbed's budget.
SUBSPACE_EARLY = 500


def subspace_readings(history: pd.DataFrame, pca: pd.DataFrame, methods: list[str], names: dict[str, str],
                      early: int = SUBSPACE_EARLY) -> dict[str, object]:
    """Glue values of one regime's run: the PCA subspace's and the start's largest angle, and the dead codes and
    decoder angles at the last evaluation at or before step `early` (`early` itself where it was evaluated)."""
    step = int(history.step[history.step <= early].max())
    at = history[history.step == step]
    start = history[(history.step == 0) & (history.method == "ste")]
    return {"pca_angle": stats.mean_ci(pca.angle_deg.to_numpy()).format(),
            "start_angle": stats.mean_ci(start.angle_encoder_deg.to_numpy()).format(), "early": step,
            "early_dead": by_method(at, methods, "dead_codes", names),
            "early_angles": by_method(at, methods, "angle_decoder_deg", names, "°")}


def subspace_figure(history: pd.DataFrame, pca: pd.DataFrame, methods: list[str], K: int, names: dict[str, str]):
    """Dead codes and the encoder's and decoder's largest principal angle over training, PCA's angle as reference."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    for name in methods:
        h = history[history.method == name]
        for ax, col in zip(axes, ["dead_codes", "angle_encoder_deg", "angle_decoder_deg"]):
            plotting.mean_band(ax, h, "step", col, names[name], plotting.COLORS[name])
    for ax in axes[1:]:
        ax.axhline(stats.mean_ci(pca.angle_deg.to_numpy()).mean, color="k", ls=":", label="PCA of the training set")
    axes[0].set(xlabel="training step", ylabel=f"dead codes (of {K})")
    axes[1].set(xlabel="training step", ylabel="largest angle, encoder (°)")
    axes[2].set(xlabel="training step", ylabel="largest angle, decoder (°)")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


# --- Multi-modal data (book/multimodal.md) ----------------------------------------------------------------

#: The multimodal chapter's metrics, by the names its tables show.
MULTIMODAL_COLUMNS = {"purity": "purity", "nmi": "NMI", "ari": "ARI", "dead_codes": "dead codes", "entropy_bits": "entropy (bits)",
                      "recon_mse": "recon MSE", "z_norm": "‖z‖"}
#: Its paired comparisons with STE: cluster agreement and dead codes as differences, recon MSE relative.
MULTIMODAL_PAIRED = [(f"{MULTIMODAL_COLUMNS[c]} − STE", "difference", c) for c in ("purity", "nmi", "ari", "dead_codes")] + [
    ("recon MSE vs STE (%)", "relative", "recon_mse")]
