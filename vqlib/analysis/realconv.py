"""Tables of the convolutional real-data study (vqlib.studies.realconv) for the chapter: one row per method, 95 % CIs over seeds."""

from __future__ import annotations

import pandas as pd

from vqlib import stats
from vqlib.convvq import LABELS

#: Columns shown, and their headings.
COLUMNS = {"psnr_db": "held-out PSNR (dB)", "bpp_fixed": "rate, log2 K (bits/pixel)", "bpp_entropy": "rate, index entropy (bits/pixel)",
           "usage_pct": "codes used (%)", "dead_codes": "dead codes"}


def method_table(final: pd.DataFrame, regime: str, K: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PSNR, both rates, usage and dead codes per method at (regime, K): (shown with 'mean [low, high]' text, numbers)."""
    sub = final[(final.regime == regime) & (final.K == K)]
    if sub.empty:
        raise ValueError(f"no convolutional runs at regime = {regime!r}, K = {K}")
    shown, numbers = stats.summarize_by(sub.assign(usage_pct=100 * sub.usage), ["method"], list(COLUMNS))
    shown["method"] = shown.method.map(LABELS)
    return shown.rename(columns=COLUMNS), numbers
