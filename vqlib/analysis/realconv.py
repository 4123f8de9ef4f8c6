"""Tables of the convolutional real-data study (vqlib.studies.realconv) for the chapter: one row per method, 95 % CIs over seeds."""

from __future__ import annotations

import pandas as pd

from vqlib import regimes, stats
from vqlib.convvq import LABELS, init_weights
from vqlib.images import SPLITS
from vqlib.realconv import N_VAL  # noqa: F401  (shown by the chapter)

#: Columns shown, and their headings.
COLUMNS = {"psnr_db": "held-out PSNR (dB)", "bpp_fixed": "rate, log2 K (bits/pixel)", "bpp_entropy": "rate, index entropy (bits/pixel)",
           "usage_pct": "codes used (%)", "dead_codes": "dead codes"}


def method_table(final: pd.DataFrame, regime: str | None = None, K: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PSNR, both rates, usage and dead codes per method at (regime, K), or per (regime, K, method) when both are None:
    (shown with 'mean [low, high]' text, numbers)."""
    keys = ["method"] if regime is not None else ["regime", "K", "method"]
    sub = final if regime is None else final[(final.regime == regime) & (final.K == K)]
    if sub.empty:
        raise ValueError(f"no convolutional runs at regime = {regime!r}, K = {K}")
    shown, numbers = stats.summarize_by(sub.assign(usage_pct=100 * sub.usage), keys, list(COLUMNS))
    shown["method"] = shown.method.map(LABELS)
    return shown.rename(columns=COLUMNS), numbers


def stop_share(final: pd.DataFrame) -> pd.DataFrame:
    """Per converging (regime, K, method): the share of slices the stop rule stopped before the cap, and their steps."""
    runs = final[[regimes.get(r).converge for r in final.regime]]
    rows = [{"regime": r, "K": k, "method": LABELS[m], "met the rule": f"{int(g.met.sum())} of {len(g)}",
             "steps run (median)": int(g.steps_run.median())}
            for (r, k, m), g in runs.groupby(["regime", "K", "method"], sort=False)]
    return pd.DataFrame(rows, columns=["regime", "K", "method", "met the rule", "steps run (median)"])


def unmet_text(final: pd.DataFrame) -> str:
    """The converging runs' methods whose slices did not all meet the stop rule before the cap, in words ("none" if all did)."""
    runs = final[[regimes.get(r).converge for r in final.regime]]
    rows = [f"{LABELS[m]} ({int(g.met.sum())} of {len(g)})" for m, g in runs.groupby("method", sort=False) if not g.met.all()]
    return ", ".join(rows) or "none"


def claim_frame(final: pd.DataFrame) -> pd.DataFrame:
    """The final rows as the registry's realconv-* claims read them: dead_pct = 100·dead/K, perplexity = 2^(index entropy)."""
    return final.assign(dead_pct=100 * final.dead_codes / final.K, perplexity=2.0 ** final.entropy_bits)


def n_weights(hidden: int, m: int) -> int:
    """Weights and biases of one convolutional VQ-VAE (one seed's encoder and decoder, codebook aside)."""
    return sum(v.numel() for v in init_weights(1, hidden, m).values())


def image_names(split: str, part: str) -> str:
    """The split's training or held-out images by name, for the prose."""
    return ", ".join(n.partition(":")[2] for n in SPLITS[split][part])
