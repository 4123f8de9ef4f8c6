"""The seeds' claims re-tested on real images, as registry entries (vqlib.claim_registry holds them with the rest).

realdata-*: the one-code-per-patch networks on photo patches (book/realdata.md, vqlib.analysis.realdata.claim_frame);
realconv-*: the convolutional VQ-VAE on held-out photographs (vqlib.analysis.realconv.claim_frame), which runs the
published rotation trick, not the seeds' rotation (a projection), so its claims name the rotation trick.
"""

from __future__ import annotations

from vqlib.claim_spec import DEAD_MARGIN_PCT, MSE_MARGIN, ROT, RT, ClaimSpec, _ks


def _estimator_claims(prefix: str, b: str, estimators: tuple[str, ...], setting: str, at: str, where: tuple[dict, ...],
                      section: str, label: str) -> list[ClaimSpec]:
    """The seeds' estimator claims in one real-data setting: `b` (the rotation the model runs) against STE, judged on the
    rows of `where` (the K = 64 claim at its own K); `setting` and `at` complete the quotes, `label` the short names."""
    pct, on = dict(scale=100, unit=" %"), dict(where=where, section=section)
    return [
        ClaimSpec(f"{prefix}-85-fewer-dead", "000 §1; 002 Empirical Evidence", f"Large codebooks (K ≥ 32): 85 % fewer dead codes with "
                  f"rotation than with STE ({setting}, {at})", "85 %", "dead_codes", "size", b, "ste", margin=0.85, reduction=True, **on,
                  **pct, label=f"{label}: 85 % fewer dead codes"),
        ClaimSpec(f"{prefix}-k64-dead", "002 Performance Summary", f"Dead codes at K = 64: an 88 % reduction ({setting})",
                  "25.7 vs 3.0 (88 %)", "dead_codes", "size", b, "ste", margin=0.88, reduction=True, where=_ks(64), section=section,
                  **pct, label=f"{label}: 88 % fewer dead codes at K = 64"),
        ClaimSpec(f"{prefix}-equal-quality", "000 §1; 002 Bottom Line", f"Rotation keeps reconstruction quality equivalent to "
                  f"STE's ({setting}, {at})", "", "recon_mse", "equivalence", b, "ste", margin=MSE_MARGIN, relative=True, **on, **pct,
                  label=f"{label}: equal MSE"),
        ClaimSpec(f"{prefix}-utilization", "000 §1; 002 Bottom Line; 002 Validation Checklist", f"Rotation significantly improves "
                  f"codebook utilization ({setting}, {at})", "", "dead_codes", "directional", b, "ste", sign=-1, **on,
                  also=(ClaimSpec("", "", "", "", "perplexity", "directional", b, "ste", where=where),),
                  label=f"{label}: rotation improves utilization"),
        ClaimSpec(f"{prefix}-estimator-matters", "002 Academic Contribution", "Gradient estimator choice critically affects "
                  f"discrete representation learning ({setting}, {at})", "", "dead_pct", "size", estimators, "ste",
                  margin=DEAD_MARGIN_PCT, sidedness="two-sided", combine="any", **on, unit=" pp",
                  directions=("more dead codes", "fewer dead codes"), label=f"{label}: estimator choice changes dead codes"),
        ClaimSpec(f"{prefix}-rec-all-active", "002 Practical Recommendations", "Use rotation for resource efficiency, when all "
                  f"codes must be active ({setting}, {at})", "", "dead_codes", "size", b, None, margin=1.0, sign=-1, **on,
                  label=f"{label}: rotation keeps every code active"),
    ]


def realdata_claims() -> list[ClaimSpec]:
    """The seeds' claims re-tested on the photo patches (book/realdata.md, vqlib.analysis.realdata.claim_frame): one row per
    variant (as method) and seed of one regime, at the chapter's K; STE from a given start is also "ste/<init>"."""
    sec, rd = "realdata-verdicts", "ste/rd_optimal"
    return _estimator_claims("realdata", ROT, (ROT, RT, "nsvq", "diveq"), "real data", "at the chapter's K", ({},), sec, "Real data") + [
        ClaimSpec("realdata-init-uniform-dead", "000 §3 (Codebook Utilization Patterns)", "Standard uniform initialization "
                  "causes many dead codes (more than the k-means and data-sample starts; real data, STE)", "", "dead_codes",
                  "directional", "ste/kmeans", "ste/uniform", sign=-1, section=sec,
                  also=(ClaimSpec("", "", "", "", "dead_codes", "directional", "ste/data_samples", "ste/uniform", sign=-1),),
                  label="Real data: uniform start leaves more dead codes"),
        ClaimSpec("realdata-init-theory-dead", "000 §3 (Codebook Utilization Patterns)", "Theory-based (R(D)) initialization: "
                  "expected 0–5 dead codes, initially and after training (real data, STE)", "0–5", "dead_codes", "size", rd, None,
                  margin=5.0, sign=-1, section=sec,
                  also=(ClaimSpec("", "", "", "", "dead_codes_start", "size", rd, None, margin=5.0, sign=-1),),
                  label="Real data: R(D) start has 0–5 dead codes"),
    ]


def realconv_claims() -> list[ClaimSpec]:
    """The seeds' codebook-size claims re-tested on the convolutional VQ-VAE (one row per method and seed of one regime)
    at K = 256, the size every regime runs (the converged regime runs only there), and the K = 64 claim at its own K."""
    return _estimator_claims("realconv", RT, (RT, "simvq", "diveq", "nsvq"), "convolutional VQ-VAE on held-out photographs, "
                             "the rotation trick", "K = 256", _ks(256), "realconv-verdicts", "Conv VQ-VAE")
