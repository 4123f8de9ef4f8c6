"""The seed claims as data: each written once (id, source, the seed's words and value, metric, kind, margin).

The registry (CLAIMS) of claims written in the schema of vqlib.claim_spec (ClaimSpec); the one evaluator that judges a
claim on a result frame is vqlib.claims.
"""

from __future__ import annotations

import math
from dataclasses import replace

from vqlib.claim_mechanisms import MECHANISMS
from vqlib.claim_registry_real import realconv_claims, realdata_claims
from vqlib.claim_spec import DEAD_MARGIN_PCT, FLOOR, KINDS, MSE_MARGIN, ROT, RT, SIDEDNESS, ClaimSpec, _case, _ks, _names  # noqa: F401 - the schema and the shared margins, re-exported

_TB = "000 §5 (Performance Metrics)"


def _scale_claims() -> list[ClaimSpec]:
    """The codebook-size claims (book/scale.md): K = 8, 16 small; 32, 64, 128 large (the chapter's K_list)."""
    ev, large, small = "002 Empirical Evidence", _ks(32, 64, 128), _ks(8, 16)
    pct = dict(scale=100, unit=" %")

    def mse_equal(where):
        return ClaimSpec("", "", "", "", "recon_mse", "equivalence", ROT, "ste", margin=MSE_MARGIN, relative=True, floor=FLOOR, where=where, **pct)

    def dead_equal(where):
        return ClaimSpec("", "", "", "", "dead_pct", "equivalence", ROT, "ste", margin=DEAD_MARGIN_PCT, where=where, unit=" pp")

    def mse_not_worse(where, b=ROT, a="ste"):
        return ClaimSpec("", "", "", "", "recon_mse", "size", b, a, margin=MSE_MARGIN, sign=-1, relative=True, floor=FLOOR, where=where, **pct)

    return [
        ClaimSpec("scale-85-fewer-dead", "000 §1; " + ev, "Large codebooks (K ≥ 32): 85 % fewer dead codes with rotation than with STE",
                  "85 %", "dead_codes", "size", ROT, "ste", margin=0.85, reduction=True, where=large, section="scale-paired", **pct,
                  label="85 % fewer dead codes at K ≥ 32"),
        ClaimSpec("scale-small-negligible", "002 When Both Perform Similarly",
                  "Small codebooks (K ≤ 16): negligible difference between rotation and STE", "", "dead_pct", "equivalence", ROT, "ste",
                  margin=DEAD_MARGIN_PCT, where=small, section="scale-paired", unit=" pp", also=(mse_equal(small),), label="Small codebooks: no difference"),
        ClaimSpec("scale-k64-dead", "002 Performance Summary", "Dead codes at K = 64: 25.7 (STE) vs 3.0 (rotation), an 88 % reduction",
                  "25.7 vs 3.0 (88 %)", "dead_codes", "size", ROT, "ste", margin=0.88, reduction=True, where=_ks(64),
                  section="scale-paired", **pct, label="88 % fewer dead codes at K = 64"),
        ClaimSpec("scale-k32-entropy", "002 Performance Summary", "Entropy at K = 32: 2.93 bits (STE) vs 3.25 (rotation), an 11 % increase",
                  "2.93 vs 3.25 (+11 %)", "entropy_bits", "size", ROT, "ste", margin=0.11, relative=True, where=_ks(32),
                  section="scale-paired", **pct, label="11 % more entropy at K = 32"),
        ClaimSpec("scale-equal-quality", "000 §1; 002 Bottom Line", "Rotation keeps reconstruction quality equivalent to STE's (at every codebook size)",
                  "", "recon_mse", "equivalence", ROT, "ste", margin=MSE_MARGIN, relative=True, floor=FLOOR, where=small + large,
                  section="scale-paired", **pct, label="Equal MSE at every codebook size"),
        ClaimSpec("scale-linear-gaussian-similar", "000 §4",
                  "Linear Gaussian experiments: STE and rotation give similar results (geometric difference less pronounced)", "",
                  "dead_pct", "equivalence", ROT, "ste", margin=DEAD_MARGIN_PCT, where=_ks(32), section="scale-paired", unit=" pp",
                  also=(mse_equal(_ks(32)),), label="Linear Gaussian: STE and rotation similar"),
        ClaimSpec("scale-utilization", "000 §1; 002 Bottom Line; 002 Validation Checklist",
                  "Rotation significantly improves codebook utilization, especially at scale (checklist: \"codebook utilization improved\")",
                  "", "dead_codes", "directional", ROT, "ste", sign=-1, where=large, section="scale-paired",
                  also=(ClaimSpec("", "", "", "", "perplexity", "directional", ROT, "ste", where=large),), label="Rotation improves codebook utilization"),
        ClaimSpec("scale-large-k", "002 Validation Checklist", "Scales to large K", "", "dead_codes", "directional", ROT, "ste", sign=-1,
                  where=_ks(128), section="scale-paired", label="Rotation scales to large K"),
        ClaimSpec("scale-up-to-88", "002 One-Sentence Summary", "Rotation reduces dead codes by up to 88 % without sacrificing quality",
                  "up to 88 %", "dead_codes", "size", ROT, "ste", margin=0.88, reduction=True, where=large, combine="any",
                  section="scale-paired", also=(mse_not_worse(large),), **pct, label="Up to 88 % fewer dead codes, same quality"),
        ClaimSpec("scale-estimator-matters", "002 Academic Contribution",
                  "Gradient estimator choice critically affects discrete representation learning", "", "dead_pct", "size",
                  (ROT, RT), "ste", margin=DEAD_MARGIN_PCT, sidedness="two-sided", where=small + large, combine="any",
                  section="scale-paired", unit=" pp", directions=("more dead codes", "fewer dead codes"), label="Estimator choice changes dead codes"),
        ClaimSpec("scale-rec-production", "002 Practical Recommendations", "Use rotation at production scale (K > 16 codes)", "",
                  "dead_codes", "directional", ROT, "ste", sign=-1, where=large, section="scale-paired", also=(mse_not_worse(large),),
                  label="Use rotation at production scale"),
        ClaimSpec("scale-rec-small", "002 Practical Recommendations", "Stick with STE for small codebooks (K ≤ 8)", "",
                  "dead_pct", "size", "ste", ROT, margin=DEAD_MARGIN_PCT, sign=-1, where=_ks(8), section="scale-paired", unit=" pp",
                  also=(mse_not_worse(_ks(8), "ste", ROT),), label="Use STE for small codebooks"),
        ClaimSpec("scale-rec-all-active", "002 Practical Recommendations", "Use rotation for resource efficiency, when all codes must be active",
                  "", "dead_codes", "size", ROT, None, margin=1.0, sign=-1, where=large, section="scale-results", label="Rotation keeps every code active"),
        ClaimSpec("scale-3-seeds", "002 Validation Checklist", "Statistical significance (3+ seeds)", "3+ seeds", "dead_codes",
                  "directional", ROT, "ste", sign=-1, where=({"K": 64, "first_3_seeds": True}, {"K": 64}), section="scale-paired",
                  label="Fewer dead codes significant with 3 seeds",
                  untestable="a methods statement (how many seeds the seeds ran), not a claim about trained models; this book "
                  "runs at least five paired seeds and judges every claim on them"),
    ]
#: Steps to a common target count as comparable when the paired relative difference lies within ±20 %.
SPEED_MARGIN = 0.20
#: book/commitment_noise.md: the β values below / at or above the seeds' 0.25 and 0.5, the noise levels (chapter defaults).
LOW_BETAS, STRONG_BETAS = (0.1,), (1.0,)
SIGMAS, CLEAN_SIGMA, HIGH_SIGMAS = (0.0, 0.1, 0.4), 0.0, (0.4,)
#: The collapsed starts of book/commitment_noise.md (vqlib.studies.commitment_noise.STARTS): z shrunk onto the origin, or codes pushed out of the data.
COLLAPSED = ("collapsed", "collapsed_far")


def _cases(sweep: str, key: str, vals, starts=("standard",)) -> tuple[dict, ...]:
    return tuple({"sweep": sweep, "start": st, key: v} for st in starts for v in vals)


def _commitment_noise_claims() -> list[ClaimSpec]:
    """The β and σ claims (book/commitment_noise.md): frame with columns sweep ('beta'/'sigma'/'beta_range'), start, beta, sigma."""
    wb, pr, rec = "002 When Rotation Wins Big", "002 Practical Recommendations", "commitment-collapse"
    pct = dict(scale=100, unit=" %")

    def dead_eq(where):
        return ClaimSpec("", "", "", "", "dead_pct", "equivalence", ROT, "ste", margin=DEAD_MARGIN_PCT, where=where, unit=" pp")

    def mse_eq(where):
        return ClaimSpec("", "", "", "", "recon_mse", "equivalence", ROT, "ste", margin=MSE_MARGIN, relative=True, floor=FLOOR, where=where, **pct)

    def not_worse(where, b=ROT, a="ste"):
        return (ClaimSpec("", "", "", "", "dead_pct", "size", b, a, margin=DEAD_MARGIN_PCT, sign=-1, where=where, unit=" pp"),
                ClaimSpec("", "", "", "", "recon_mse", "size", b, a, margin=MSE_MARGIN, sign=-1, relative=True, floor=FLOOR, where=where, **pct))

    low_col = _cases("beta", "beta", LOW_BETAS, COLLAPSED)
    strong_all = _cases("beta", "beta", STRONG_BETAS, ("standard",) + COLLAPSED)
    low_std, strong_std = _cases("beta", "beta", LOW_BETAS), _cases("beta", "beta", STRONG_BETAS)
    all_sig, high = _cases("sigma", "sigma", SIGMAS), _cases("sigma", "sigma", HIGH_SIGMAS)
    clean = _cases("sigma", "sigma", (CLEAN_SIGMA,))
    return [
        ClaimSpec("commitment-low-collapse", wb, "Low commitment (β < 0.25): rotation recovers faster from collapse", "",
                  "mean_dead_fraction", "directional", ROT, "ste", sign=-1, where=low_col, section=rec, **pct,
                  label="Low β: rotation recovers faster from collapse"),
        ClaimSpec("commitment-strong", "002 When Both Perform Similarly",
                  "Strong commitment (β ≥ 0.5): commitment dominates gradient effects, both estimators perform similarly", "",
                  "dead_pct", "equivalence", ROT, "ste", margin=DEAD_MARGIN_PCT, where=strong_all, section=rec, unit=" pp",
                  also=(mse_eq(strong_std),), label="Strong β: both estimators alike"),
        ClaimSpec("commitment-recovery-speed", "000 §5 (Insight)", "The gradient methods differ in dead-code recovery speed "
                  "(read two-sided: rotation's mean dead fraction while recovering differs from STE's, either way, at some β and "
                  "collapsed start)", "", "mean_dead_fraction", "directional", ROT, "ste", sidedness="two-sided",
                  directions=("slower to recover", "faster to recover"),
                  where=_cases("beta", "beta", LOW_BETAS + STRONG_BETAS, COLLAPSED), combine="any", section=rec, **pct,
                  label="Methods differ in recovery speed"),
        ClaimSpec("commitment-robustness", "000 §5 (Insight)", "The gradient methods differ in robustness to hyperparameters (read two-sided: "
                  "the range of final dead codes across the β sweep differs between rotation and STE)", "", "dead_range", "directional",
                  ROT, "ste", sidedness="two-sided", directions=("wider range over β", "narrower range over β"),
                  where=({"sweep": "beta_range"},), section=rec, label="Methods differ in robustness to β"),
        ClaimSpec("commitment-rec-low", pr, "Use rotation at low commitment (exploring β < 0.25)", "", "dead_codes", "directional",
                  ROT, "ste", sign=-1, where=low_std, section="commitment-noise-paired", also=not_worse(low_std)[1:], label="Use rotation at low β"),
        ClaimSpec("commitment-rec-high", pr, "Stick with STE at high commitment (β ≥ 0.5 already enforced)", "", "dead_pct", "size",
                  "ste", ROT, margin=DEAD_MARGIN_PCT, sign=-1, where=strong_std, section="commitment-noise-paired", unit=" pp",
                  also=not_worse(strong_std, "ste", ROT)[1:], label="Use STE at high β"),
        ClaimSpec("noise-clean", wb, "Clean data (σ → 0): rotation gives better entropy without overfitting", "", "entropy_bits",
                  "directional", ROT, "ste", where=clean, section="noise-sweep",
                  also=(ClaimSpec("", "", "", "", "overfit", "size", ROT, None, margin=MSE_MARGIN, sign=-1, where=clean, **pct),),
                  label="Clean data: more entropy, no overfitting"),
        ClaimSpec("noise-high", "002 When Both Perform Similarly", "High noise (σ > 0.2): both estimators converge to similar solutions",
                  "", "dead_pct", "equivalence", ROT, "ste", margin=DEAD_MARGIN_PCT, where=high, section="noise-sweep", unit=" pp",
                  also=(mse_eq(high),), label="High noise: both estimators alike"),
        ClaimSpec("noise-robust", "002 Validation Checklist", "Robust across noise levels (rotation not worse than STE at any σ)", "",
                  "dead_pct", "size", ROT, "ste", margin=DEAD_MARGIN_PCT, sign=-1, where=all_sig, section="noise-sweep", unit=" pp",
                  also=not_worse(all_sig)[1:], label="Rotation no worse at any noise level"),
    ]


def _convergence_claims() -> list[ClaimSpec]:
    """The long-run claims (book/convergence.md): one row per (K, method, seed) after the regime's budget."""
    src, cv, pct = "002 Performance Summary", "convergence-curves", dict(scale=100, unit=" %")
    trio, ks = (ROT, RT), _ks(32, 64)
    return [
        ClaimSpec("convergence-speed", "000 §1; " + src, "Convergence: similar speed for rotation and STE (\"~same\", \"comparable\")",
                  "~same", "steps_to_target", "equivalence", ROT, "ste", margin=SPEED_MARGIN, relative=True, where=_ks(32),
                  section=cv, **pct, label="Rotation and STE: same convergence speed"),
        ClaimSpec("convergence-diversity", "000 §1", "Rotation maintains better code diversity during training", "",
                  "mean_perplexity", "directional", ROT, "ste", where=_ks(32), section=cv, label="Rotation keeps more code diversity"),
        ClaimSpec("convergence-utilization-differs", "000 §5 (Insight)", "The gradient methods differ in code utilization during "
                  "training (read two-sided: rotation's or the rotation trick's run-average perplexity differs from STE's)", "",
                  "mean_perplexity", "directional", trio, "ste", sidedness="two-sided", directions=("higher perplexity", "lower perplexity"),
                  where=_ks(32), combine="any", section=cv, label="Methods differ in code utilization"),
        ClaimSpec("convergence-final", "000 §5 (Insight)", "All gradient methods converge to similar final performance", "",
                  "recon_mse", "equivalence", trio, "ste", margin=MSE_MARGIN, relative=True, floor=FLOOR, where=ks, section=cv, **pct,
                  label="Same final MSE for every method"),
        ClaimSpec("convergence-lloyd", "002 Theoretical Insight", "Lloyd's algorithm: rotation better approaches k-means fixed points",
                  "", "lloyd_gain", "directional", ROT, "ste", sign=-1, where=ks, section=cv, **pct, label="Rotation closer to k-means fixed points"),
        ClaimSpec("convergence-long-85", "000 §1; 002 Empirical Evidence", "Large codebooks (K ≥ 32): 85 % fewer dead codes "
                  "(re-tested after a long run)", "85 %", "dead_codes", "size", ROT, "ste", margin=0.85, reduction=True, where=ks,
                  section=cv, **pct, label="85 % fewer dead codes after a long run"),
        ClaimSpec("convergence-long-entropy", src, "Entropy at K = 32: 2.93 (STE) vs 3.25 (rotation), +11 % (re-tested after a long run)",
                  "2.93 vs 3.25 (+11 %)", "entropy_bits", "size", ROT, "ste", margin=0.11, relative=True, where=_ks(32), section=cv, **pct,
                  label="11 % more entropy after a long run"),
    ]


#: seed document 000, §3 "Codebook Utilization Patterns" (K = 32): (initial, final) dead codes per initializer.
INIT_SEED_RANGES = {"uniform": ((100, 150), (20, 50)), "kmeans": ((10, 30), (5, 15)), "rd_optimal": ((0, 5), (0, 5))}
#: book/initialization.md: the β-robustness margin (relative change of the distortion's excess over the noise floor).
BETA_MARGIN = 0.05
INIT_OTHERS = ("kmeans", "data_samples", "rd_optimal", "point_density", "transform_coding")


def _beta(*bs: float) -> tuple[str, ...]:
    return tuple(f"β = {b:g}" for b in bs)


def _init_claims() -> list[ClaimSpec]:
    """The initialization claims (book/initialization.md, frames from vqlib.analysis.initialization.frames): method = the
    initializer (regime study, geometric spectrum, K = 32), the β (β sweep), or the uniform range (scale sweep)."""
    tab, focus, beta_src = "000 §3 (Codebook Utilization Patterns)", "000 (Updated Research Focus; What to Keep 1; What to Simplify 3)", \
        "000 §2 (Commitment Loss Sensitivity)"
    pct, inits = dict(scale=100, unit=" %"), ({"init": "uniform"}, {"init": "rd_optimal"})
    rel = dict(relative=True, floor="noise_floor", where=inits, **pct)

    def rd_beats(metric, **kw):
        return ClaimSpec("", "", "", "", metric, "size", "rd_optimal", "kmeans", margin=-MSE_MARGIN, sign=-1, relative=True, **pct, **kw)

    def seed_range(name, label):
        (ls, hs), (le, he) = INIT_SEED_RANGES[name]
        return ClaimSpec(f"init-seed-table-{name}", tab, f"{label} initialization: {ls:g}–{hs:g} initial and {le:g}–{he:g} final dead "
                         "codes (K = 32)", f"{ls:g}–{hs:g} / {le:g}–{he:g}", "start_vs_seed", "equivalence", name, margin=(hs - ls) / 2,
                         section="initialization-seed-table", label=f"{label} start: the seeds' dead-code counts",
                         also=(ClaimSpec("", "", "", "", "end_vs_seed", "equivalence", name, margin=(he - le) / 2),))

    hyp = "R(D)-optimal initialization beats uniform and k-means by more than 2 % of latent distortion"
    return [
        ClaimSpec("init-rd-beats-step0", focus, hyp + " (at initialization, before any training)", "", "dist_start", "size", "rd_optimal",
                  "uniform", margin=-MSE_MARGIN, sign=-1, relative=True, section="initialization-regimes", **pct,
                  also=(rd_beats("dist_start"),), label="R(D) start beats uniform and k-means at step 0"),
        ClaimSpec("init-rd-beats", focus, hyp + " (after codebook-only training)", "", "dist_end", "size", "rd_optimal", "uniform",
                  margin=-MSE_MARGIN, sign=-1, relative=True, section="initialization-regimes", **pct, also=(rd_beats("dist_end"),),
                  label="R(D) start beats uniform and k-means after training"),
        ClaimSpec("init-exact-codebook", "000 (Updated Research Focus: 'exact solution exists for linear Gaussian')",
                  "An exact solution exists for the linear Gaussian model: the K-code codebook", "", "dist_start", "equivalence",
                  "transform_coding", margin=1.0, section="initialization-regimes", label="Exact solution: the K-code codebook",
                  untestable="no closed form of the optimal K-point quantizer of a Gaussian in m ≥ 2 dimensions is known to test against "
                  "(Lloyd's conditions are necessary, not sufficient); the exact parts of the solution, D(R) by reverse water-filling and "
                  "the PCA encoder, are tested as init-exact-encoder"),
        seed_range("uniform", "Uniform [−1/n, 1/n]"),
        seed_range("kmeans", "K-means"),
        ClaimSpec("init-uniform-dead", tab, "Standard uniform initialization causes many dead codes (more than every other start; "
                  "fixed PCA encoder, K = 32)", "", "dead_end", "directional", INIT_OTHERS, "uniform", sign=-1,
                  section="initialization-seed-table", label="Uniform start leaves the most dead codes"),
        ClaimSpec("init-root-cause", "000 §3 (Root Cause)", "Uniform initialization variance ~1/n² is too small compared to data "
                  "variance (the cause of the dead codes): a uniform range at the data's scale leaves fewer dead codes", "", "dead_start",
                  "directional", "data scale", "default 1/K", sign=-1, section="initialization-root-cause",
                  also=(ClaimSpec("", "", "", "", "dead_end", "directional", "data scale", "default 1/K", sign=-1),),
                  label="Too small a uniform range causes the dead codes"),
        ClaimSpec("init-theory-dead", tab, "Theory-based (R(D)) initialization: expected 0–5 dead codes, initially and after "
                  "training (K = 32)", "0–5 / 0–5", "dead_start", "size", "rd_optimal", margin=5.0, sign=-1,
                  where=({"setting": "fixed PCA encoder"}, {"setting": "learned encoder"}), section="initialization-theory",
                  also=(ClaimSpec("", "", "", "", "dead_end", "size", "rd_optimal", margin=5.0, sign=-1,
                                  where=({"setting": "fixed PCA encoder"}, {"setting": "learned encoder"})),),
                  label="R(D) start has 0–5 dead codes"),
        ClaimSpec("init-beta-robust", beta_src, "β ∈ [0.1, 0.5] gives robust performance", "", "sq_error", "equivalence",
                  _beta(0.1, 0.5), "β = 0.25", margin=BETA_MARGIN, section="initialization-beta", **rel, label="β in [0.1, 0.5] is robust"),
        ClaimSpec("init-beta-low", beta_src, "β < 0.1: risk of encoder–codebook mismatch (worse results)", "", "sq_error", "directional",
                  _beta(0.01, 0.05), "β = 0.25", section="initialization-beta", **rel, label="β below 0.1 is worse"),
        ClaimSpec("init-beta-high", beta_src, "β > 0.5 overly constrains the encoder (worse results)", "", "sq_error", "directional",
                  _beta(1.0), "β = 0.25", section="initialization-beta", **rel, label="β above 0.5 is worse"),
        ClaimSpec("init-beta-sweet", beta_src, "β = 0.25 is the sweet spot (no other β better by more than the margin)", "0.25", "sq_error",
                  "size", _beta(0.01, 0.05, 0.1, 0.5, 1.0), "β = 0.25", margin=-BETA_MARGIN, section="initialization-beta", **rel,
                  label="β = 0.25 is the sweet spot"),
        ClaimSpec("init-beta-dead", beta_src, "Start with β = 0.25 and adjust β by the dead-code fraction (read: β moves the dead "
                  "codes, either way)", "", "dead_codes", "directional", _beta(0.01, 0.05, 0.1, 0.5, 1.0), "β = 0.25",
                  sidedness="two-sided", combine="any", where=inits, section="initialization-beta",
                  directions=("more dead codes", "fewer dead codes"), label="β moves the dead codes"),
    ]


#: book/rate_distortion.md: PCA counts as optimal when the signal energy it leaves outside its span is under 1 % of D(R).
LEAK_LIMIT = 0.01


def _rd_claims() -> list[ClaimSpec]:
    """The PCA encoder's optimality (book/rate_distortion.md, vqlib.analysis.rate_distortion.pca_frame): one row per seed of
    method "pca" with leak_rel = leakage / D(R) and the premise below_R_star (the rate below R*, where noise gets no bits)."""
    pct, below = dict(scale=100, unit=" %"), ({"below_R_star": True},)
    return [
        ClaimSpec(cid, src, quote, "", "leak_rel", "size", "pca", margin=LEAK_LIMIT, sign=-1, where=below, section="rd-pca", **pct,
                  label=label)
        for cid, src, quote, label in (
            ("rd-pca-optimal", "000 §4 (Linear Gaussian Experiments)",
             "For linear encoders on Gaussian data, PCA initialization is optimal for the encoder", "PCA is the optimal encoder"),
            ("init-exact-encoder", "000 (Updated Research Focus: 'exact solution exists for linear Gaussian')",
             "An exact solution exists for the linear Gaussian model: the encoder (PCA) and D(R) (reverse water-filling)",
             "Exact solution: the encoder"),
        )
    ]


#: (id, source, the seed's words, why no experiment here can decide it)
UNTESTABLE = [
    ("verdicts-optimal-transport", "002 Theoretical Insight; 002 Key Paper Points 2",
     "Rotation approximates a Wasserstein gradient flow (\"theoretical connection to optimal transport\")",
     "the seeds name no flow, measure or metric and give no derivation, so there is no statement to measure"),
    ("verdicts-manifold", "002 Theoretical Insight", "Manifold optimization: rotation respects the assignment manifold",
     "assignments are discrete and the seeds define no manifold or notion of respecting it"),
    ("verdicts-hierarchical", "002 Practical Recommendations", "Use rotation for hierarchical VQ (multiple quantization levels)",
     "the book builds no hierarchical (multi-level) quantizer"),
    ("verdicts-prototyping", "002 Practical Recommendations", "Stick with STE when prototyping: simplicity matters",
     "a judgement about development effort, not a property of the trained models"),
    ("verdicts-legacy", "002 Practical Recommendations", "Stick with STE in legacy systems, to keep compatibility",
     "a statement about existing software, not about training"),
    ("verdicts-first-comparison", "002 Key Paper Points 1", "First systematic comparison of VQ gradient estimators",
     "a claim about the literature; no experiment can decide it"),
    ("verdicts-focus-ste", "000 Implications (What to Simplify)", "Focus on one estimator: use standard STE (simpler, well-understood)",
     "a decision about the project's scope; the estimator chapters give the measurements it can rest on"),
    ("verdicts-research-value", "000 Updated Research Focus",
     ("R(D) initialization is more principled, more interpretable and more impactful (initialization affects all VQ-VAE variants)"),
     "judgements of research value, not measurable properties"),
]


UNTESTABLE_LABELS = ("Rotation is an optimal-transport gradient flow", "Rotation respects the assignment manifold",
                     "Use rotation for hierarchical VQ", "Use STE when prototyping", "Use STE in legacy systems",
                     "First systematic comparison of VQ estimators", "Focus on one estimator: STE",
                     "R(D) initialization is more principled and impactful")


def _untestable_claims() -> list[ClaimSpec]:
    """The claims of :data:`UNTESTABLE` as registry entries judged "not testable" with their reason."""
    return [ClaimSpec(i, src, text, "", "", "directional", "", section="verdicts-untestable", untestable=why, label=label)
            for (i, src, text, why), label in zip(UNTESTABLE, UNTESTABLE_LABELS, strict=True)]


CLAIMS: dict[str, ClaimSpec] = {
    c.id: c
    for c in [
        ClaimSpec("testbed-equal-mse", _TB, "Rotation and STE reach equivalent reconstruction MSE (2.4479 vs 2.4475)", "+0.02 %",
                  "recon_mse", "equivalence", "projection", "ste", margin=MSE_MARGIN, relative=True, floor=FLOOR, section="testbed",
                  scale=100, unit=" %", label="Rotation and STE: equal MSE"),
        ClaimSpec("testbed-manual-ste", _TB, "Manual STE is worse than autograd STE (2.4577 vs 2.4475)", "+0.42 %",
                  "recon_mse", "directional", "ste_manual", "ste", relative=True, floor=FLOOR, section="testbed", scale=100, unit=" %",
                  label="Manual STE worse than autograd STE"),
        ClaimSpec("testbed-usage", _TB, "Every method uses about 99 % of its 32 codes", "99.0–99.1 %",
                  "usage_pct", "size", ("ste", "projection", "ste_manual", "pca_lloyd"), margin=97.0, section="testbed",
                  unit=" %", label="Every method uses about 99 % of its codes"),
        ClaimSpec("testbed-pca-lloyd", _TB, "PCA + Lloyd is slightly worse than gradient training (2.4893 vs 2.4475)", "+1.7 %",
                  "recon_mse", "directional", "pca_lloyd", "ste", relative=True, floor=FLOOR, section="testbed", scale=100, unit=" %",
                  label="PCA + Lloyd slightly worse than training"),
        ClaimSpec("init-only-codebook", "000 §4 (Linear Gaussian Experiments)", "With the PCA encoder, only the codebook needs "
                  "training (a fixed PCA encoder with a trained codebook is not worse than end-to-end training by more than the margin)",
                  "", "recon_mse", "size", "pca_lloyd", "ste", margin=MSE_MARGIN, sign=-1, relative=True, floor=FLOOR, section="testbed",
                  scale=100, unit=" %", label="PCA encoder: only the codebook needs training"),
        *_scale_claims(),
        *_commitment_noise_claims(),
        *_convergence_claims(),
        *realdata_claims(),
        *realconv_claims(),
        *_init_claims(),
        *_untestable_claims(),
        *_rd_claims(),
        ClaimSpec("geometry-rotation-is-projection", "000 §1 and 002 'Theoretical Insight'", "The 'rotation' estimator, ∂q/∂z = "
                  "uuᵀ, rotates the gradient (named a rotation, contrasted with STE's I)", "", "orth_error", "size", "uuᵀ", margin=1e-6,
                  sign=-1, section="geometry-projection", also=(ClaimSpec("", "", "", "", "det_positive", "size", "uuᵀ", margin=1.0),),
                  label="The seeds' uuᵀ is a rotation"),
        ClaimSpec("geometry-2d-alignment", "002 §2D Visualization (Validated ✓)", "Rotation gradients align with Voronoi boundaries "
                  "(2-D, K = 4): the seeds' updates make a smaller angle Φ with the nearest cell face than a random direction's 45°",
                  "qualitative (a figure)", "face_angle", "size", ROT, margin=45.0, sign=-1,
                  where=({"state": "generic"}, {"state": "trained"}), section="geometry-2d", unit="°",
                  label="Rotation updates align with cell faces"),
        ClaimSpec("cost-rotation-overhead", "002 Performance Summary (Computation)", "The rotation estimator adds about 5 % "
                  "computation over STE, a negligible overhead (timing: machine-local, CPU, one thread)", "+5 %", "log_seconds", "size",
                  ROT, "ste", margin=math.log(1.05), sign=-1, section="cost-overhead", scale=100, unit=" % (log-ratio)",
                  where=tuple({"B": b, "m": m, "K": k} for b in (1024, 4096) for m in (4, 64) for k in (32, 1024)),
                  label="Rotation adds at most 5 % per step"),
        ClaimSpec("subspace-dead", "002 Cleanest Experimental Settings 1",
                  "Linear subspace recovery (d = 256, r = 4, K = 32): rotation has 0 dead codes vs 5.7 for STE", "0 vs 5.7",
                  "dead_codes", "size", ROT, None, margin=1.0, sign=-1, section="subspace-paired",
                  also=(ClaimSpec("", "", "", "", "dead_codes", "directional", ROT, "ste", sign=-1),), label="Subspace: rotation has no dead codes"),
        ClaimSpec("subspace-maintained", "002 Validation Checklist", "Subspace recovery maintained (rotation recovers the subspace as well "
                  "as STE: its in-subspace distortion E‖P_A(x − x̂)‖² is not worse by more than the margin)", "", "subspace_distortion", "size",
                  ROT, "ste", margin=MSE_MARGIN, sign=-1, relative=True, section="subspace-paired", scale=100, unit=" %",
                  label="Subspace recovered as well as by STE"),
        ClaimSpec("subspace-pure-vq", "002 Cleanest Experimental Settings 1",
                  "Interpretation: a pure VQ-layer improvement (fewer dead codes at no cost in reconstruction)", "", "recon_mse",
                  "equivalence", ROT, "ste", margin=MSE_MARGIN, relative=True, floor=FLOOR, section="subspace-paired", scale=100, unit=" %",
                  also=(ClaimSpec("", "", "", "", "dead_codes", "directional", ROT, "ste", sign=-1),), label="Subspace: fewer dead codes, same MSE"),
        ClaimSpec("multimodal-purity", "002 Cleanest Experimental Settings 3; 002 Validation Checklist",
                  "Multi-modal data (8 Gaussian clusters, K = 32): rotation achieves better cluster purity (0.795 vs 0.768); it better "
                  "handles discrete structure", "0.795 vs 0.768", "purity", "directional", ROT, "ste", section="multimodal-results",
                  label="Clusters: rotation has higher purity"),
        ClaimSpec("multimodal-kmeans", "002 Validation Checklist", "K-means baseline comparison (rotation holds up against a k-means codebook)",
                  "", "purity", "size", ROT, "pca_lloyd", margin=-0.02, section="multimodal-results",
                  also=(ClaimSpec("", "", "", "", "recon_mse", "size", ROT, "pca_lloyd", margin=MSE_MARGIN, sign=-1, relative=True,
                                  scale=100, unit=" %"),), label="Rotation holds up against k-means",
                  untestable="a validation-checklist item (\"compare with a k-means baseline\"), not a claim with a direction or a "
                  "margin; the chapter reports the comparison"),
    ]
}
CLAIMS.update({i: replace(CLAIMS[i], mechanism=m) for i, m in MECHANISMS.items()})  # vqlib.claim_mechanisms: what the chapters found


def get(claim_id: str) -> ClaimSpec:
    """The registered claim `claim_id` (a clear error naming the known ones otherwise)."""
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim {claim_id!r}; registered: {sorted(CLAIMS)}")
    return CLAIMS[claim_id]
