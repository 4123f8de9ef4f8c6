"""Tables of the convolutional real-data study (vqlib.studies.realconv) for the chapter: one row per method, 95 % CIs over seeds."""

from __future__ import annotations

import pandas as pd

from vqlib import stats
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


def claim_frame(final: pd.DataFrame) -> pd.DataFrame:
    """The final rows as the registry's realconv-* claims read them: dead_pct = 100·dead/K, perplexity = 2^(index entropy)."""
    return final.assign(dead_pct=100 * final.dead_codes / final.K, perplexity=2.0 ** final.entropy_bits)


def n_weights(hidden: int, m: int) -> int:
    """Weights and biases of one convolutional VQ-VAE (one seed's encoder and decoder, codebook aside)."""
    return sum(v.numel() for v in init_weights(1, hidden, m).values())


def image_names(split: str, part: str) -> str:
    """The split's training or held-out images by name, for the prose."""
    return ", ".join(n.partition(":")[2] for n in SPLITS[split][part])
