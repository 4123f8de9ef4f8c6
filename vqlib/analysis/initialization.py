"""What book/initialization.md derives from the stored initialization study: per-seed readings, tables, figures,
glued values and the claim records it hands to the registry (no training here)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vqlib import rd, stats
from vqlib.init import LABELS

FX, LN = "fixed PCA encoder", "learned encoder"
#: seed document 000, §3 "Codebook Utilization Patterns" (K = 32): (initial, final) dead codes.
SEED_RANGES = {
    "uniform": ((100, 150), (20, 50)),
    "kmeans": ((10, 30), (5, 15)),
    "rd_optimal": ((0, 5), (0, 5)),
}
SRC_TABLE = "000 §3 (Codebook Utilization Patterns)"
SRC_FOCUS = "000 (Updated Research Focus; What to Keep 1; What to Simplify 3)"
SRC_BETA = "000 §2 (Commitment Loss Sensitivity)"
#: The margin of the β-robustness claim (relative change of the distortion against the reference β).
BETA_MARGIN = 0.05


# --- generic readings ---------------------------------------------------------------------------------------


def start_end(history: pd.DataFrame, columns: dict[str, str], steps: int, by: list[str]) -> pd.DataFrame:
    """One row per group and seed: each history column at step 0 and at `steps`, as <name>_start and <name>_end."""
    parts = []
    for step, suffix in ((0, "start"), (steps, "end")):
        sub = history[history.step == step].set_index(by + ["seed"])[list(columns)]
        parts.append(sub.rename(columns={c: f"{n}_{suffix}" for c, n in columns.items()}))
    return pd.concat(parts, axis=1).reset_index()


def settle_steps(history: pd.DataFrame, column: str, by: list[str], db: float = 0.5) -> pd.DataFrame:
    """Per group and seed: the first evaluated step from which `column` stays within `db` dB of its final value.

    The resolution is the evaluation interval; 0 means it starts there. Returns by + [seed, settle_step].
    """
    if not db > 0:
        raise ValueError(f"db must be a finite number in (0.0, inf], got {db}")
    rows = []
    for key, g in history.groupby(by + ["seed"], sort=True):
        g = g.sort_values("step")
        off = np.abs(10 * np.log10(g[column].to_numpy() / g[column].to_numpy()[-1])) > db
        steps = g.step.to_numpy()
        last_off = np.flatnonzero(off)
        settle = steps[0] if last_off.size == 0 else steps[last_off[-1] + 1]
        rows.append((*key, int(settle)))
    return pd.DataFrame(rows, columns=by + ["seed", "settle_step"])


def beats(a, b, margin: float) -> tuple[str, stats.Interval]:
    """Verdict on "a beats b" from paired per-seed distortions: the CI of the relative difference (a − b)/b vs −margin.

    holds: the whole 95 % CI lies below −margin (a lower by more than the margin); does not hold: the whole CI
    lies above −margin; inconclusive: the CI contains −margin; not testable: fewer than two seeds.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or a.size != b.size:
        return "not testable", stats.Interval(float("nan"), float("nan"), float("nan"), int(a.size))
    rel = stats.paired(b, a).relative
    if rel.high < -margin:
        return "holds", rel
    if rel.low > -margin:
        return "does not hold", rel
    return "inconclusive", rel


def within_margin(a, b, margin: float) -> tuple[str, stats.Interval]:
    """Verdict on "a is as good as b" (a within `margin` above b): paired relative CI of (a − b)/b against +margin.

    holds: the whole CI lies below +margin; does not hold: the whole CI lies above it; inconclusive otherwise.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or a.size != b.size:
        return "not testable", stats.Interval(float("nan"), float("nan"), float("nan"), int(a.size))
    rel = stats.paired(b, a).relative
    if rel.high < margin:
        return "holds", rel
    if rel.low > margin:
        return "does not hold", rel
    return "inconclusive", rel


def _rel(ci) -> str:
    """A relative interval in percent, signed: '+1.2 % [+0.3, +2.1]'."""
    return f"{100 * ci.mean:+.1f} % [{100 * ci.low:+.1f}, {100 * ci.high:+.1f}]"


# --- the per-seed table of both settings ------------------------------------------------------------------


def fixed_curves(res: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Learning curves of the seeds' setting (geometric spectrum, seeds-budget regime), fixed PCA encoder."""
    c = res["codebook_curves"]
    return c[(c.spectrum == "geometric") & (c.regime == "seeds-budget")].drop(columns=["spectrum", "regime"])


def learned_inits(res: dict[str, pd.DataFrame]) -> list[str]:
    """The initializers the learned-encoder runs trained, in the chapter's order."""
    return list(dict.fromkeys(res["learned_ends"].init))


def pca_residual(res: dict[str, pd.DataFrame]) -> np.ndarray:
    """Per seed (in seed order), the held-out PCA residual E‖x − EᵀE x‖² of the geometric testbed."""
    return res["learned_ends"].groupby("seed").pca_residual.first().to_numpy()


def per_seed(res: dict[str, pd.DataFrame], steps: int) -> pd.DataFrame:
    """One row per (setting, K, init, seed): distortion and dead codes at step 0 and after training, the bound,
    the Lloyd optimum, the gap in dB to each and the settling step."""
    by = ["K", "init"]
    study = res["codebook"]
    per_fixed = study[(study.spectrum == "geometric") & (study.regime == "seeds-budget")].drop(columns=["spectrum", "regime"])
    per_fixed = per_fixed[["K", "init", "seed", "dist_start", "dead_start", "batch_start", "dist_end", "dead_end", "batch_end", "bound", "lloyd"]]
    per_fixed = per_fixed.merge(settle_steps(fixed_curves(res), "latent_distortion", by), on=by + ["seed"])
    lloyd = per_fixed[per_fixed.init == "kmeans"].set_index(["K", "seed"]).dist_start
    per_fixed.insert(0, "setting", FX)

    ends = res["learned_ends"]
    residual = pca_residual(res)
    per_learned = start_end(ends, {"sq_error": "dist", "dead_codes": "dead"}, steps, by)
    per_learned = per_learned.merge(settle_steps(res["learned_curves"], "sq_error", by), on=by + ["seed"])
    per_learned["bound"] = per_learned.K.map(ends.groupby("K").bound.first())
    per_learned["lloyd"] = lloyd.loc[list(zip(per_learned.K, per_learned.seed))].to_numpy() + residual[per_learned.seed.to_numpy()]
    per_learned.insert(0, "setting", LN)

    out = pd.concat([per_fixed, per_learned], ignore_index=True)
    out["gap_db"] = rd.gap_db(out.dist_end, out.bound)
    out["lloyd_gap_db"] = rd.gap_db(out.dist_end, out.lloyd)
    return out


# --- the estimator/β invariance check -----------------------------------------------------------------------


def invariance_table(inv: pd.DataFrame) -> pd.DataFrame:
    """The invariance check as shown: estimator names, β and the largest differences formatted."""
    return inv.assign(
        estimator=inv.estimator.map({"ste": "STE", "rotation_trick": "rotation trick", "projection": "seeds' rotation (projection)"}),
        beta=inv.beta.map("{:g}".format),
        max_diff_first=inv.max_diff_first.map("{:.1e}".format),
        max_diff_codebook_only=inv.max_diff_codebook_only.map("{:.1e}".format),
    ).rename(columns={"beta": "β", "max_diff_first": "largest difference from the first run",
                      "max_diff_codebook_only": "largest difference from codebook-loss-only training"})


# --- distortion and dead codes per initializer ----------------------------------------------------------


def main_tables(per_seed: pd.DataFrame, inits: list[str], learned: list[str], K_list: list[int]) -> dict[str, tuple]:
    """Per setting: (shown, numbers) of dead codes, distortion, gaps and settling step per (init, K)."""
    out = {}
    for setting in [FX, LN]:
        sub = per_seed[per_seed.setting == setting].copy()
        sub["key"] = sub.init + "|" + sub.K.astype(str)
        order = [f"{i}|{k}" for i in (inits if setting == FX else learned) for k in K_list]
        cols = ["dead_start", "dead_end", "dist_start", "dist_end", "gap_db", "lloyd_gap_db", "settle_step"]
        shown, numbers = stats.summarize(sub, "key", cols, order=order)
        shown.insert(0, "init", [LABELS[k.split("|")[0]] for k in order])
        shown.insert(1, "K", [k.split("|")[1] for k in order])
        shown = shown.drop(columns="key").rename(columns={
            "dead_start": "dead codes, step 0", "dead_end": "dead codes, final", "dist_start": "distortion, step 0",
            "dist_end": "distortion, final", "gap_db": "gap to D(R) (dB)", "lloyd_gap_db": "gap to Lloyd (dB)",
            "settle_step": "steps to 0.5 dB"})
        out[setting] = (shown, numbers)
    return out


def curves_figure(res: dict[str, pd.DataFrame], per_seed: pd.DataFrame, inits: list[str], K_list: list[int]):
    """Held-out distortion against training step, fixed encoder (top) and learned encoder (bottom), one column per K."""
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    from vqlib import plotting

    learned = learned_inits(res)
    curves = {FX: (fixed_curves(res), "latent_distortion"), LN: (res["learned_curves"], "sq_error")}
    fig, axes = plt.subplots(2, len(K_list), figsize=(2.3 * len(K_list), 5.2), sharex=True, squeeze=False)
    for r, (setting, (hist, col)) in enumerate(curves.items()):
        ref = per_seed[per_seed.setting == setting]
        for c, k in enumerate(K_list):
            ax = axes[r, c]
            for name in (inits if r == 0 else learned):
                plotting.mean_band(ax, hist[(hist.K == k) & (hist.init == name)], "step", col, LABELS[name], plotting.COLORS[name])
            ax.axhline(ref[ref.K == k].bound.iloc[0], color="k", ls=":", label="D(R)")
            ax.axhline(ref[ref.K == k].lloyd.mean(), color=plotting.COLORS["pca_lloyd"], ls="--", label="Lloyd optimum")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
            ax.tick_params(axis="y", which="both", labelsize=7)
            ax.set_title(f"{setting}, K = {k}", fontsize=7)
            ax.set_xlabel("training step", fontsize=8)
        axes[r, 0].set_ylabel("latent distortion E‖z − q‖²" if r == 0 else "distortion E‖x − x̂‖²", fontsize=8)
    axes[0, 0].legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return fig


def main_values(per_seed: pd.DataFrame, inits: list[str], learned: list[str], K_list: list[int], K: int, std: float) -> dict:
    """The glued readings of the main section: paired R(D) comparisons, gap ranges, settling, dead codes, best start."""
    at_K = per_seed[per_seed.K == K]
    out = {}
    vs_kmeans = stats.paired_against(at_K, "init", "kmeans", "dist_end", group="setting").set_index(["setting", "init"])
    out["initialization_rd_vs_kmeans"] = _rel_row(vs_kmeans.loc[(FX, "rd_optimal")])
    out["initialization_rd_vs_kmeans_learned"] = _rel_row(vs_kmeans.loc[(LN, "rd_optimal")])
    if "data_samples" in inits:
        vs_data = stats.paired_against(at_K, "init", "data_samples", "dist_end", group="setting").set_index(["setting", "init"])
        out["initialization_rd_vs_data"] = _rel_row(vs_data.loc[(FX, "rd_optimal")])
    else:
        out["initialization_rd_vs_data"] = "not measured (data_samples is not in inits)"
    gaps = per_seed.groupby(["setting", "init", "K"]).agg(gap=("gap_db", "mean"), lloyd_gap=("lloyd_gap_db", "mean"), settle=("settle_step", "mean"))
    out["initialization_kmeans_gap_range"] = f"{gaps.loc[(FX, 'kmeans')].gap.min():.2f} to {gaps.loc[(FX, 'kmeans')].gap.max():.2f} dB"
    out["initialization_uniform_lloyd_gap_range"] = (f"{gaps.loc[(FX, 'uniform')].lloyd_gap.min():.1f} to "
                                                     f"{gaps.loc[(FX, 'uniform')].lloyd_gap.max():.1f} dB")
    out["initialization_rd_lloyd_gap_range"] = (f"{gaps.loc[(FX, 'rd_optimal')].lloyd_gap.min():.2f} to "
                                                f"{gaps.loc[(FX, 'rd_optimal')].lloyd_gap.max():.2f} dB")
    out["initialization_uniform_settle"] = f"{gaps.loc[(FX, 'uniform')].settle.min():.0f} to {gaps.loc[(FX, 'uniform')].settle.max():.0f}"
    dead_end = per_seed.groupby(["setting", "init", "K"]).dead_end.mean()
    out["initialization_learned_dead_largeK"] = ", ".join(f"{LABELS[i]} {dead_end.loc[(LN, i, max(K_list))]:.3g}" for i in learned)
    out["initialization_K_max"] = max(K_list)
    final_K = at_K.groupby(["setting", "init"]).dist_end.mean()
    out["initialization_best_init"] = "; ".join(f"{LABELS[final_K.loc[s].idxmin()]} ({s})" for s in (FX, LN))
    out["initialization_std_text"] = f"{std:.3g}"
    kl = per_seed[(per_seed.setting == LN) & (per_seed.init == "kmeans") & (per_seed.K == K)]
    out["initialization_learned_kmeans_lloyd_gap"] = stats.mean_ci(kl.lloyd_gap_db).format() + " dB"
    return out


def _rel_row(row) -> str:
    return f"{100 * row.rel_mean:+.1f} % [{100 * row.rel_low:+.1f}, {100 * row.rel_high:+.1f}]"


# --- six initializers, four regimes, two spectra ------------------------------------------------------------


def regime_table(regime_names: list[str], steps: int) -> pd.DataFrame:
    """The training regimes of the codebook-only study (vqlib.regimes), as shown."""
    from vqlib import regimes as regime_lib

    return pd.DataFrame([{
        "regime": r.name, "codebook update": "EMA (decay " + f"{r.ema_decay:g})" if r.codebook_update == "ema" else f"{r.optimizer} on the codebook loss",
        "codebook lr": "–" if r.codebook_update == "ema" else f"{r.codebook_lr:g}",
        "momentum": f"{r.momentum:g}" if r.optimizer == "sgd" and r.codebook_update != "ema" else "–",
        "steps": steps} for r in map(regime_lib.get, regime_names)])


def _ci(frame, col):
    return stats.mean_ci(frame[col]).format()


def step0_table(study: pd.DataFrame, spectra: list[str], regime_names: list[str], inits: list[str], K: int) -> pd.DataFrame:
    """Step 0, fixed PCA encoder, at K: gaps to D(R) and to the best codebook found, and dead codes, per spectrum and init."""
    rows = []
    for spectrum in spectra:
        sub = study[(study.spectrum == spectrum) & (study.K == K) & (study.regime == regime_names[0])]
        for name in inits:
            f = sub[sub.init == name]
            rows.append({"spectrum": spectrum, "init": LABELS[name], "gap to D(R) (dB)": _ci(f, "gap_start_db"),
                         "gap to best (dB)": _ci(f, "best_gap_start_db"), "dead codes": _ci(f, "dead_start")})
    return pd.DataFrame(rows)


def trained_table(study: pd.DataFrame, spectra: list[str], regime_names: list[str], inits: list[str], K: int) -> pd.DataFrame:
    """After codebook-only training, per regime and init: gaps, dead codes and steps to k-means' distortion, per spectrum."""
    rows = []
    for regime in regime_names:
        for name in inits:
            row = {"regime": regime, "init": LABELS[name]}
            for spectrum in spectra:
                f = study[(study.spectrum == spectrum) & (study.K == K) & (study.regime == regime) & (study.init == name)]
                tag = "geom." if spectrum == "geometric" else spectrum
                row[f"{tag}: gap to D(R) (dB)"] = _ci(f, "gap_db")
                row[f"{tag}: gap to best (dB)"] = _ci(f, "best_gap_db")
                row[f"{tag}: dead"] = _ci(f, "dead_end")
                reached = f.steps_to_kmeans.notna()
                row[f"{tag}: steps to k-means"] = ((stats.mean_ci(f.steps_to_kmeans[reached]).format(3)
                                                    + ("" if reached.all() else f" ({int(reached.sum())}/{len(f)})"))
                                                   if reached.any() else f"never (0/{len(f)})")
            rows.append(row)
    return pd.DataFrame(rows)


def regimes_figure(study: pd.DataFrame, spectra: list[str], regime_names: list[str], inits: list[str]):
    """Gap to the best codebook found against K: step 0 and after training per regime, one row per spectrum."""
    import matplotlib.pyplot as plt

    from vqlib import plotting

    gap_K = study.groupby(["spectrum", "regime", "init", "K"]).agg(start=("best_gap_start_db", "mean"), end=("best_gap_db", "mean")).reset_index()
    panels = ["step 0"] + list(regime_names)
    fig, axes = plt.subplots(len(spectra), len(panels), figsize=(2.4 * len(panels), 2.6 * len(spectra)), sharex=True, sharey=True, squeeze=False)
    for r, spectrum in enumerate(spectra):
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            for name in inits:
                g = gap_K[(gap_K.spectrum == spectrum) & (gap_K.init == name) & (gap_K.regime == (regime_names[0] if panel == "step 0" else panel))]
                ax.plot(g.K, g.start if panel == "step 0" else g.end, "o-", ms=3, color=plotting.COLORS[name], label=LABELS[name])
            ax.axhline(0, color="k", lw=0.8, ls=":")
            ax.set_xscale("log", base=2)
            ax.set_yscale("symlog", linthresh=1.0)
            ax.set_title(f"{spectrum}, {panel}", fontsize=8)
            if r == len(spectra) - 1:
                ax.set_xlabel("codebook size K", fontsize=8)
        axes[r, 0].set_ylabel("gap to best codebook (dB)", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def _per_seed(frame, regime, name, col):
    return frame[(frame.regime == regime) & (frame.init == name)].sort_values("seed")[col].to_numpy()


def hypothesis_verdict(frame: pd.DataFrame, regime: str, col: str, margin: float) -> tuple[str, str]:
    """Combine 'R(D) beats uniform' and 'R(D) beats k-means' (each: paired relative CI against −margin)."""
    parts = {other: beats(_per_seed(frame, regime, "rd_optimal", col), _per_seed(frame, regime, other, col), margin)
             for other in ("uniform", "kmeans")}
    verdicts_ = [v for v, _ in parts.values()]
    overall = ("holds" if all(v == "holds" for v in verdicts_) else
               "does not hold" if "does not hold" in verdicts_ else
               "not testable" if "not testable" in verdicts_ else "inconclusive")
    text = "; ".join(f"vs {LABELS[o]}: {v} ({_rel(ci)})" for o, (v, ci) in parts.items())
    return overall, text


def regime_claims(study: pd.DataFrame, inits: list[str], regime_names: list[str], K: int, steps: int, restarts: int,
                  margin: float) -> tuple[list[dict], dict]:
    """The claims of the regime section (R(D) beats the others, only the codebook needs training, exact solutions) as
    report.claim arguments, and the values glued beside them."""
    hyp = "R(D)-optimal initialization beats uniform and k-means"
    tb_K = study[(study.spectrum == "geometric") & (study.K == K)]
    claims, values = [], {}
    v0, t0_text = hypothesis_verdict(tb_K, regime_names[0], "dist_start", margin)
    claims.append(dict(
        id="init-rd-beats", source=SRC_FOCUS, claim=hyp + " (at initialization, before any training)", seed_value="",
        measured=f"step-0 latent distortion, R(D)-sampled relative to each (K = {K}, geometric spectrum, fixed PCA encoder): {t0_text}",
        verdict=v0, why=f"holds if R(D)-sampled is lower than both by more than {100 * margin:g} % (paired 95 % CI of the relative difference "
        f"entirely below −{100 * margin:g} %); does not hold if the CI against either lies entirely above −{100 * margin:g} %; "
        "inconclusive otherwise", section="initialization-regimes"))
    hyp_v = {}
    for regime in regime_names:
        v, text = hypothesis_verdict(tb_K, regime, "dist_end", margin)
        hyp_v[regime] = v
        claims.append(dict(
            id="init-rd-beats", source=SRC_FOCUS, claim=hyp + " (after codebook-only training)", seed_value="",
            measured=f"final latent distortion after {steps} steps, R(D)-sampled relative to each (K = {K}, geometric spectrum): {text}",
            verdict=v, why=f"as at step 0, on the final distortion of the {regime} regime", section="initialization-regimes", regime=regime))
    values["initialization_verdict_hyp_step0"] = v0
    values["initialization_verdict_hyp_regimes"] = "; ".join(f"{r}: {hyp_v[r]}" for r in regime_names)
    values["initialization_hyp_step0_text"] = t0_text

    # "Only the codebook needs training": codebook-only training from data samples reaches the best codebook found.
    only = {}
    src_only, claim_only = "000 §4 (Linear Gaussian Experiments)", "With the PCA encoder, only the codebook needs training"
    if "data_samples" in inits:
        best_col = tb_K[(tb_K.regime == regime_names[0]) & (tb_K.init == "data_samples")].sort_values("seed").best.to_numpy()
        for regime in regime_names:
            v, ci = within_margin(_per_seed(tb_K, regime, "data_samples", "dist_end"), best_col, margin)
            only[regime] = v
            claims.append(dict(
                id="init-only-codebook", source=src_only, claim=claim_only, seed_value="",
                measured=f"codebook-only training from data samples, final distortion relative to the best codebook found: "
                f"{_rel(ci)} (K = {K}, geometric spectrum)",
                verdict=v, why=f"holds if codebook-only training (fixed PCA encoder) from K data samples ends within {100 * margin:g} % of the "
                f"best of {restarts} k-means runs (paired 95 % CI entirely below +{100 * margin:g} %); does not hold if the CI "
                "lies entirely above; inconclusive otherwise", section="initialization-regimes", regime=regime))
    else:
        for regime in regime_names:
            only[regime] = "not testable"
            claims.append(dict(id="init-only-codebook", source=src_only, claim=claim_only, seed_value="", measured="data_samples is not in inits",
                               verdict="not testable", why="needs the data-sample start", section="initialization-regimes", regime=regime))
    values["initialization_verdict_only"] = "; ".join(f"{r}: {only[r]}" for r in regime_names)

    # "Exact solution exists for linear Gaussian": true for the encoder, not for a K-point codebook.
    src_exact = "000 (Updated Research Focus: 'exact solution exists for linear Gaussian')"
    claims.append(dict(
        id="init-exact-encoder", source=src_exact, claim="An exact solution exists for the linear Gaussian model: the encoder", seed_value="",
        measured="PCA spans the optimal subspace below R* (theorem; measured leakage in the rate–distortion chapter)", verdict="holds",
        why="a mathematical fact: reverse water-filling gives no bits to the noise components below R*, so the top-m PCA "
        "subspace is exactly what the optimal code describes (rate–distortion chapter, section on PCA)", section="initialization-regimes"))
    if "transform_coding" in inits:
        tc = _per_seed(tb_K, regime_names[0], "transform_coding", "dist_start")
        best_col = tb_K[(tb_K.regime == regime_names[0]) & (tb_K.init == "transform_coding")].sort_values("seed").best.to_numpy()
        tc_text = f"transform code (exact closed form) relative to the best codebook found: {_rel(stats.paired(best_col, tc).relative)}"
    else:
        tc_text = "transform_coding not in inits"
    claims.append(dict(
        id="init-exact-codebook", source=src_exact, claim="An exact solution exists for the linear Gaussian model: the K-code codebook",
        seed_value="", measured=tc_text + f" (K = {K}, geometric spectrum)", verdict="does not hold",
        why="a mathematical fact: no closed form is known for the optimal K-point quantizer of a Gaussian in m ≥ 2 dimensions "
        "(Lloyd's conditions are necessary, not sufficient, and k-means finds local optima); the closed-form codebooks "
        "(transform coding, whose distortion is exact) are not optimal, as measured here", section="initialization-regimes"))
    values["initialization_tc_text"] = tc_text
    others_K = tb_K[tb_K.init != "kmeans"].groupby(["regime", "init"]).best_gap_db.mean()
    values["initialization_regime_gap_ranges"] = "; ".join(f"{r}: {others_K.loc[r].min():.2f} to {others_K.loc[r].max():.2f} dB" for r in regime_names)
    for spec_name, key in (("geometric", "geo"), ("flat", "flat")):
        f = study[(study.spectrum == spec_name) & (study.K == K) & (study.regime == regime_names[0])]
        if "transform_coding" in inits and len(f):
            g0 = f.groupby("init").best_gap_start_db.mean().drop("kmeans")
            values[f"initialization_tc_{key}"] = (f"{g0['transform_coding']:.2f} dB, rank {int(g0.rank().loc['transform_coding'])} of {len(g0)} "
                                                  "starts other than k-means")
        else:
            values[f"initialization_tc_{key}"] = "not measured"
    values["initialization_verdict_exact_encoder"] = "holds"
    values["initialization_verdict_exact_codebook"] = "does not hold"
    return claims, values


# --- the seeds' utilization table -----------------------------------------------------------------------------


def utilization_readings(
    per_seed: pd.DataFrame, K: int, ranges: dict[str, tuple[tuple[float, float], tuple[float, float]]], mid: float | None = None
) -> pd.DataFrame:
    """Score readings of a dead-code table (initial, final per initializer) against the seed's ranges.

    per_seed: one row per (setting, init, K, seed) with dead_start, dead_end and, where measured,
    batch_start, batch_end (per-batch counts). Readings: as written (K, one quantizer, per set); a larger
    K'; a sum over n quantizers at K, n fitted so the first initializer's initial count meets the middle of
    its range (`mid`); a per-batch count at K'. For each, the mean per cell and how many cells fall in range.
    """
    inits = list(ranges)
    first_lo, first_hi = ranges[inits[0]][0]
    mid = (first_lo + first_hi) / 2 if mid is None else mid
    rows = []

    def add(setting, family, reading, k, n, start_col, end_col):
        sub = per_seed[(per_seed.setting == setting) & (per_seed.K == k)]
        if sub.empty or start_col not in sub or sub[start_col].isna().all():
            return
        row = {"setting": setting, "family": family, "reading": reading, "K": k, "n": n}
        inside = 0
        for name in inits:
            s = sub[sub.init == name]
            for phase, col, (lo, hi) in (("initial", start_col, ranges[name][0]), ("final", end_col, ranges[name][1])):
                v = n * float(s[col].mean()) if len(s) else float("nan")
                row[f"{name}_{phase}"] = v
                inside += bool(lo <= v <= hi)
        row["cells_in_range"] = inside
        rows.append(row)

    for setting in dict.fromkeys(per_seed.setting):
        add(setting, "as written", f"K = {K}, one quantizer, held-out set", K, 1, "dead_start", "dead_end")
        for k in sorted(per_seed.K.unique()):
            if k > K:
                add(setting, "larger K", f"K = {k}, one quantizer, held-out set", k, 1, "dead_start", "dead_end")
        first = per_seed[(per_seed.setting == setting) & (per_seed.K == K) & (per_seed.init == inits[0])].dead_start.mean()
        n = max(1, int(round(mid / first))) if first > 0 else 1
        add(setting, "sum over quantizers", f"K = {K}, summed over n = {n} quantizers", K, n, "dead_start", "dead_end")
        for k in sorted(per_seed.K.unique()):
            add(setting, "per batch", f"K = {k}, per batch", k, 1, "batch_start", "batch_end")
    out = pd.DataFrame(rows)
    # within a family, keep the best-scoring reading (ties: the first cell closest to the middle of its range)
    out["_tie"] = -(out[f"{inits[0]}_initial"] - mid).abs()
    out["best_in_family"] = False
    best = out.sort_values(["cells_in_range", "_tie"], ascending=False).groupby(["setting", "family"], sort=False).head(1).index
    out.loc[best, "best_in_family"] = True
    return out.drop(columns="_tie")


def best_readings(per_seed: pd.DataFrame, K: int) -> tuple[pd.DataFrame, pd.Series, pd.Series, dict]:
    """(best reading per family, the adopted reading, the literal reading, glued values)."""
    readings = utilization_readings(per_seed, K, SEED_RANGES)
    best = readings[readings.best_in_family].reset_index(drop=True)
    adopted = best.sort_values("cells_in_range", ascending=False, kind="stable").iloc[0]
    written = best[(best.setting == FX) & (best.family == "as written")].iloc[0]
    values = {
        "initialization_adopted": f"{adopted.reading} ({adopted.setting})",
        "initialization_adopted_cells": int(adopted.cells_in_range),
        "initialization_written_cells": int(written.cells_in_range),
        "initialization_best_cells_per_family": "; ".join(f"{r.family} ({r.setting}): {r.cells_in_range} of 6" for r in best.itertuples()),
    }
    return best, adopted, written, values


def seed_side_table(per_seed: pd.DataFrame, adopted: pd.Series, K: int) -> pd.DataFrame:
    """The seeds' utilization table beside ours, under the adopted reading and as written."""
    use_batch = adopted.family == "per batch"
    col_s, col_e = ("batch_start", "batch_end") if use_batch else ("dead_start", "dead_end")
    sel = per_seed[(per_seed.setting == adopted.setting) & (per_seed.K == adopted.K)]
    asw = per_seed[(per_seed.setting == FX) & (per_seed.K == K)]
    side = []
    for name, ((lo_s, hi_s), (lo_e, hi_e)) in SEED_RANGES.items():
        ours = sel[sel.init == name].sort_values("seed")
        plain = asw[asw.init == name].sort_values("seed")
        side.append({
            "init": LABELS[name],
            "initial (seed)": f"{lo_s:g}–{hi_s:g}",
            "initial (ours, adopted)": stats.mean_ci(adopted.n * ours[col_s].to_numpy()).format(),
            "initial (ours, as written)": stats.mean_ci(plain.dead_start.to_numpy()).format(),
            "final (seed)": f"{lo_e:g}–{hi_e:g}",
            "final (ours, adopted)": stats.mean_ci(adopted.n * ours[col_e].to_numpy()).format(),
            "final (ours, as written)": stats.mean_ci(plain.dead_end.to_numpy()).format(),
        })
    return pd.DataFrame(side)


def seed_table_claims(per_seed: pd.DataFrame, adopted: pd.Series, written: pd.Series, K: int) -> tuple[list[dict], dict]:
    """The claims on the seeds' uniform and k-means rows and on 'uniform leaves the most dead codes', with glued values."""
    claims, values = [], {}
    for name, label in [("uniform", "Uniform [−1/n, 1/n]"), ("kmeans", "K-means")]:
        (lo_s, hi_s), (lo_e, hi_e) = SEED_RANGES[name]
        v_s, v_e = adopted[f"{name}_initial"], adopted[f"{name}_final"]
        w_s, w_e = written[f"{name}_initial"], written[f"{name}_final"]
        ok = lo_s <= v_s <= hi_s and lo_e <= v_e <= hi_e
        claims.append(dict(
            id=f"init-seed-table-{name}", source=SRC_TABLE,
            claim=f"{label} initialization: {lo_s:g}–{hi_s:g} initial and {lo_e:g}–{hi_e:g} final dead codes (K = 32)",
            seed_value=f"{lo_s:g}–{hi_s:g} / {lo_e:g}–{hi_e:g}",
            measured=f"adopted reading ({adopted.reading}, {adopted.setting}): {v_s:.3g} / {v_e:.3g}; as written (K = {K}): {w_s:.3g} / {w_e:.3g}",
            verdict="holds" if ok else "does not hold",
            why="holds if, under the best-fitting reading of the table, both mean counts fall in the seed's ranges", section="initialization-seed-table"))
        values[f"initialization_verdict_seed_{name}"] = claims[-1]["verdict"]
    at_K = per_seed[per_seed.K == K]
    worst = {s: stats.paired_against(at_K[at_K.setting == s], "init", "uniform", "dead_end") for s in (FX, LN)}
    worst_ok = all((w[w.init != "uniform"].diff_high < 0).all() for w in worst.values())
    uniform_dead = {s: stats.mean_ci(at_K[(at_K.setting == s) & (at_K.init == "uniform")].dead_end).format() for s in (FX, LN)}
    other_dead_max = {s: at_K[(at_K.setting == s) & (at_K.init != "uniform")].groupby("init").dead_end.mean().max() for s in (FX, LN)}
    claims.append(dict(
        id="init-uniform-dead", source=SRC_TABLE, claim="Standard uniform initialization causes many dead codes (more than the alternatives)",
        seed_value="", measured="; ".join(f"{s}: uniform {uniform_dead[s]}, others at most {other_dead_max[s]:.3g}" for s in (FX, LN)) + f" (final, K = {K})",
        verdict="holds" if worst_ok else "does not hold",
        why="holds if, in both settings, every other initializer ends with fewer dead codes than uniform (paired 95 % CI below 0)",
        section="initialization-seed-table"))
    asw = at_K[at_K.setting == FX]
    values["initialization_uniform_dead_fixed"] = uniform_dead[FX]
    values["initialization_uniform_dead_learned"] = uniform_dead[LN]
    values["initialization_uniform_start_fixed"] = stats.mean_ci(asw[asw.init == "uniform"].dead_start).format()
    values["initialization_verdict_uniform_worst"] = claims[-1]["verdict"]
    return claims, values


def readings_table(best: pd.DataFrame) -> pd.DataFrame:
    """The best reading of each family beside the seeds' printed ranges, as shown."""
    cells = [f"{i}_{p}" for i in SEED_RANGES for p in ("initial", "final")]
    shown = best[["setting", "reading"] + cells + ["cells_in_range"]].copy()
    for c in cells:
        shown[c] = shown[c].map("{:.3g}".format)
    seed_row = {"setting": "seed 000 §3", "reading": "as printed",
                **{f"{i}_{p}": f"{lo:g}–{hi:g}" for i, r in SEED_RANGES.items() for p, (lo, hi) in zip(("initial", "final"), r)},
                "cells_in_range": "–"}
    shown = pd.concat([pd.DataFrame([seed_row]), shown.astype(str)], ignore_index=True)
    return shown.rename(columns={**{f"{i}_{p}": f"{LABELS[i]}, {p}" for i in SEED_RANGES for p in ("initial", "final")},
                                 "cells_in_range": "cells in the seed's range (of 6)"})


# --- the uniform scale -----------------------------------------------------------------------------------------


def scale_sweep(scale: pd.DataFrame, steps: int) -> pd.DataFrame:
    """Per (ratio, seed): dead codes and latent distortion at step 0 and after training."""
    return start_end(scale, {"dead_codes": "dead", "latent_distortion": "dist"}, steps, ["ratio"])


def root_cause(scale: pd.DataFrame, steps: int, K: int) -> tuple[dict, dict]:
    """The root-cause claim (widening the uniform range removes dead codes) as report.claim arguments, and glued values."""
    std, default_ratio = float(scale["std"].iloc[0]), float(scale.default_ratio.iloc[0])
    sw = scale_sweep(scale, steps)
    means = sw.groupby("ratio")[["dead_start", "dead_end", "dist_end"]].mean()
    best_ratio = means.sort_values(["dead_start", "dist_end"]).index[0]
    vs_default = stats.paired_against(sw, "ratio", default_ratio, "dead_start").set_index("ratio")
    vs_default_end = stats.paired_against(sw, "ratio", default_ratio, "dead_end").set_index("ratio")
    smallest, largest = float(sw.ratio.min()), float(sw.ratio.max())
    values = {
        "initialization_std": std,
        "initialization_default_ratio": f"{default_ratio:.3g}",
        "initialization_best_ratio": f"{best_ratio:g}",
        "initialization_dead_default": f"{means.loc[default_ratio, 'dead_start']:.3g} / {means.loc[default_ratio, 'dead_end']:.3g}",
        "initialization_dead_best": f"{means.loc[best_ratio, 'dead_start']:.3g} / {means.loc[best_ratio, 'dead_end']:.3g}",
        "initialization_smallest_ratio": f"{smallest:g}",
        "initialization_dead_smallest": f"{means.loc[smallest, 'dead_start']:.3g}",
        "initialization_dead_smallest_end": f"{means.loc[smallest, 'dead_end']:.3g}",
        "initialization_smallest_vs_default": (f"{vs_default.loc[smallest, 'diff_mean']:+.3g} [{vs_default.loc[smallest, 'diff_low']:+.3g}, "
                                               f"{vs_default.loc[smallest, 'diff_high']:+.3g}]"),
        "initialization_largest_ratio": f"{largest:g}",
        "initialization_dead_largest": f"{means.loc[largest, 'dead_start']:.3g} / {means.loc[largest, 'dead_end']:.3g}",
    }
    cause_ok = vs_default.loc[best_ratio, "diff_high"] < 0 and vs_default_end.loc[best_ratio, "diff_high"] < 0
    claim = dict(
        id="init-root-cause", source="000 §3 (Root Cause)",
        claim="Uniform initialization variance ~1/n² is too small compared to data variance (the cause of the dead codes)", seed_value="",
        measured=f"dead codes (initial / final, K = {K}): {means.loc[default_ratio, 'dead_start']:.3g} / {means.loc[default_ratio, 'dead_end']:.3g} "
        f"at the default scale (ratio {default_ratio:.3g}) vs {means.loc[best_ratio, 'dead_start']:.3g} / {means.loc[best_ratio, 'dead_end']:.3g} "
        f"at ratio {best_ratio:g}; {means.loc[smallest, 'dead_start']:.3g} initial at ratio {smallest:g}",
        verdict="holds" if cause_ok else "does not hold",
        why="holds if widening the uniform range to the sweep's best scale removes dead codes, initially and after training (paired 95 % CI below 0)",
        section="initialization-root-cause")
    values["initialization_verdict_root_cause"] = claim["verdict"]
    return claim, values


def scale_figure(scale: pd.DataFrame, per_seed: pd.DataFrame, steps: int, K: int):
    """Dead codes (left) and final latent distortion (right) against the uniform half-width over the latent's RMS std."""
    import matplotlib.pyplot as plt

    from vqlib import plotting

    sw, default_ratio = scale_sweep(scale, steps), float(scale.default_ratio.iloc[0])
    fixed_K = per_seed[(per_seed.setting == FX) & (per_seed.K == K)]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    plotting.mean_band(axes[0], sw, "ratio", "dead_start", "step 0", plotting.COLORS["uniform"])
    plotting.mean_band(axes[0], sw, "ratio", "dead_end", f"after {steps} steps", plotting.COLORS["rd_optimal"])
    plotting.mean_band(axes[1], sw, "ratio", "dist_end", f"uniform, after {steps} steps", plotting.COLORS["uniform"])
    axes[1].axhline(fixed_K[fixed_K.init == "kmeans"].dist_start.mean(), color=plotting.COLORS["pca_lloyd"], ls="--", label="Lloyd optimum")
    axes[1].axhline(fixed_K.bound.iloc[0], color="k", ls=":", label="D(R)")
    for ax in axes:
        ax.axvline(default_ratio, color="0.5", lw=0.8, ls="-.", label="seeds' default 1/K")
        ax.set_xscale("log")
        ax.set_xlabel("uniform half-width / latent RMS std")
    axes[0].set_ylabel(f"dead codes (of {K})")
    axes[1].set(ylabel="latent distortion E‖z − q‖²", yscale="log")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


# --- theory-based initialization ----------------------------------------------------------------------------


def theory_claim(per_seed: pd.DataFrame, K_list: list[int], K: int) -> tuple[dict, dict]:
    """The claim 'theory-based initialization: 0–5 dead codes' at K, both settings, and glued values."""
    at_K = per_seed[per_seed.K == K]
    rd_K = at_K[at_K.init == "rd_optimal"]
    rd_ci = {(s, c): stats.mean_ci(rd_K[rd_K.setting == s][c]) for s in (FX, LN) for c in ("dead_start", "dead_end")}
    theory_ok = all(ci.high <= 5 for ci in rd_ci.values())
    claim = dict(
        id="init-theory-dead", source=SRC_TABLE, claim="Theory-based (R(D)) initialization: expected 0–5 dead codes, initially and after training (K = 32)",
        seed_value="0–5 / 0–5",
        measured="; ".join(f"{s}: {rd_ci[(s, 'dead_start')].format()} / {rd_ci[(s, 'dead_end')].format()}" for s in (FX, LN)),
        verdict="holds" if theory_ok else "does not hold",
        why=f"holds if the upper end of the 95 % CI of the dead codes at step 0 and after training is at most 5, in both settings, at K = {K}",
        section="initialization-theory")
    rd_all = per_seed[per_seed.init == "rd_optimal"].groupby(["setting", "K"]).dead_end.mean()
    values = {
        "initialization_rd_dead_by_K_learned": ", ".join(f"{rd_all.loc[(LN, k)]:.3g} (K = {k})" for k in K_list),
        "initialization_rd_dead_by_K_fixed": ", ".join(f"{rd_all.loc[(FX, k)]:.3g} (K = {k})" for k in K_list),
        "initialization_rd_dead_K_fixed": f"{rd_ci[(FX, 'dead_start')].format()} / {rd_ci[(FX, 'dead_end')].format()}",
        "initialization_rd_dead_K_learned": f"{rd_ci[(LN, 'dead_start')].format()} / {rd_ci[(LN, 'dead_end')].format()}",
        "initialization_verdict_theory": claim["verdict"],
    }
    return claim, values


# --- commitment weight β --------------------------------------------------------------------------------------


def beta_final(beta_runs: pd.DataFrame, steps: int) -> pd.DataFrame:
    """The β sweep after training: one row per (init, β, seed) with the gap to D(R)."""
    bf = beta_runs[beta_runs.step == steps].copy()
    bf["gap_db"] = rd.gap_db(bf.sq_error, bf.bound.iloc[0])
    return bf.drop(columns="bound")


def beta_table(bf: pd.DataFrame, beta_list: list[float], beta: float, seeds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(shown, numbers): final distortion, gap and dead codes per (init, β), and the paired change against the reference β."""
    vs_ref = stats.paired_against(bf, "beta", beta, "sq_error", group="init")
    beta_inits = list(dict.fromkeys(bf.init))
    bkey = bf.assign(key=bf.init + "|" + bf.beta.astype(str))
    order = [f"{i}|{b}" for i in beta_inits for b in beta_list]
    shown, numbers = stats.summarize(bkey, "key", ["sq_error", "gap_db", "dead_codes"], order=order)
    rel = vs_ref.set_index(["init", "beta"])
    shown.insert(0, "init", [LABELS[k.split("|")[0]] for k in order])
    shown.insert(1, "β", [k.split("|")[1] for k in order])
    shown[f"vs β = {beta} (%)"] = [stats.Interval(100 * r.rel_mean, 100 * r.rel_low, 100 * r.rel_high, seeds).format()
                                   for r in (rel.loc[(k.split('|')[0], float(k.split('|')[1]))] for k in order)]
    shown = shown.drop(columns="key").rename(columns={"sq_error": "distortion E‖x − x̂‖²", "gap_db": "gap to D(R) (dB)", "dead_codes": "dead codes"})
    return shown, numbers


def beta_claims(bf: pd.DataFrame, beta_list: list[float], beta: float) -> tuple[list[dict], dict]:
    """The five parts of the seeds' β advice as report.claim arguments, and the glued values."""
    vs_ref = stats.paired_against(bf, "beta", beta, "sq_error", group="init")
    vs_ref_dead = stats.paired_against(bf, "beta", beta, "dead_codes", group="init")
    beta_inits = list(dict.fromkeys(bf.init))
    others_b = vs_ref[vs_ref.beta != beta]
    in_range = others_b[(others_b.beta >= 0.1) & (others_b.beta <= 0.5)]
    low_b, high_b = others_b[others_b.beta < 0.1], others_b[others_b.beta > 0.5]

    def measured(frame):
        return "distortion vs β = 0.25: " + "; ".join(f"{LABELS[r.init]} β = {r.beta:g}: {r.rel_text}" for r in frame.itertuples())

    common = dict(source=SRC_BETA, section="initialization-beta")
    claims = {}
    claims["beta_robust"] = dict(
        id="init-beta-robust", claim="β ∈ [0.1, 0.5] gives robust performance", seed_value="", measured=measured(in_range),
        verdict=("not testable" if in_range.empty else
                 "holds" if ((in_range.rel_low >= -BETA_MARGIN) & (in_range.rel_high <= BETA_MARGIN)).all() else "does not hold"),
        why=f"holds if, for both initializers, every β in [0.1, 0.5] changes the final distortion by less than ±{100 * BETA_MARGIN:g} % "
        f"against β = {beta} (paired 95 % CI inside the margin)", **common)
    claims["beta_low"] = dict(
        id="init-beta-low", claim="β < 0.1: risk of encoder–codebook mismatch (worse results)", seed_value="", measured=measured(low_b),
        verdict="not testable" if low_b.empty else "holds" if (low_b.rel_low > 0).all() else "does not hold",
        why=f"holds if every β < 0.1 gives a higher final distortion than β = {beta} for both initializers (paired 95 % CI above 0)", **common)
    claims["beta_high"] = dict(
        id="init-beta-high", claim="β > 0.5 overly constrains the encoder (worse results)", seed_value="", measured=measured(high_b),
        verdict="not testable" if high_b.empty else "holds" if (high_b.rel_low > 0).all() else "does not hold",
        why=f"holds if every β > 0.5 gives a higher final distortion than β = {beta} for both initializers (paired 95 % CI above 0)", **common)
    better = others_b[others_b.rel_high < 0]
    claims["beta_sweet"] = dict(
        id="init-beta-sweet", claim="β = 0.25 is the sweet spot", seed_value="0.25",
        measured=("no β beats 0.25" if better.empty else
                  "lower distortion than β = 0.25: " + "; ".join(f"{LABELS[r.init]} β = {r.beta:g}: {r.rel_text}" for r in better.itertuples())),
        verdict="holds" if better.empty else "does not hold",
        why=f"holds if no β in {beta_list} gives a lower final distortion than β = {beta} for either initializer (paired 95 % CI below 0)", **common)
    dead_ref = vs_ref_dead[(vs_ref_dead.beta != beta)]
    moves = dead_ref[(dead_ref.diff_high < 0) | (dead_ref.diff_low > 0)]
    dead_means = bf.groupby(["init", "beta"]).dead_codes.mean()
    claims["beta_dead"] = dict(
        id="init-beta-dead", claim="Start with β = 0.25 and adjust β by the dead-code fraction", seed_value="",
        measured="final dead codes by β: " + "; ".join(
            f"{LABELS[i]} " + ", ".join(f"{dead_means.loc[(i, b)]:.3g}" for b in beta_list) for i in beta_inits) + f" (β = {beta_list})",
        verdict="holds" if not moves.empty else "does not hold",
        why=f"holds if β moves the dead-code count: some β changes it against β = {beta} for some initializer (paired 95 % CI excluding 0)", **common)
    best_beta = bf.groupby(["init", "beta"]).sq_error.mean().groupby("init").idxmin()
    values = {
        "initialization_best_beta": ", ".join(f"{LABELS[i]}: β = {best_beta.loc[i][1]:g}" for i in beta_inits),
        "initialization_beta_dead_uniform": ", ".join(f"{dead_means.loc[('uniform', b)]:.3g}" for b in beta_list),
        "initialization_beta_list": ", ".join(f"{b:g}" for b in beta_list),
    }
    for key in ["beta_robust", "beta_low", "beta_sweet", "beta_high", "beta_dead"]:
        values[f"initialization_verdict_{key}"] = claims[key]["verdict"]
    return list(claims.values()), values
