"""Which training regimes (vqlib.regimes) each chapter of the testbed family runs, and why (shown in the book).

Kept apart from the recipes on purpose: a result's store key covers the recipes (vqlib.regimes) but not this
table, so choosing a regime for one chapter leaves the other chapters' stored results fresh.
"""

from __future__ import annotations

#: {chapter: (regimes, why)}. Where the budget forces a choice, fewer regimes run to convergence are preferred over
#: more regimes stopped at the seeds' budget; every chapter that trains end to end runs the converged regime.
CHAPTER_REGIMES: dict[str, tuple[tuple[str, ...], str]] = {
    "testbed": (("seeds-budget", "converged", "codebook-lr", "ema", "ema-data", "data-init", "sgd", "affine", "cosine",
                 "converged-affine", "converged-cosine"),
                "the seeds' table: every recipe in the seeds' budget, and the seeds' recipe and the two codebook forms of "
                "Huh et al. and the rotation trick's runs converged"),
    "convergence": (("converged",), "long runs: the stop rule decides how long"),
    "scale": (("seeds-budget", "converged", "codebook-lr", "ema"), "the seeds' claims at every K, in their budget and converged, "
              "and the two codebook recipes that decide dead codes"),
    "subspace": (("seeds-budget", "converged", "codebook-lr"), "the seeds' budget (its 1,500 steps), the same recipe converged "
                 "(cap 60,000 steps), and the codebook recipe that lets codes keep up"),
    "multimodal": (("seeds-budget", "converged", "codebook-lr", "ema"), "the seeds' budget and converged (the mixture's own "
                   "validation draw), and the two codebook recipes"),
    "commitment_noise": (("seeds-budget", "converged", "codebook-lr", "ema"), "the β and σ sweeps in the seeds' budget and "
                         "converged (each slice's floor is its own σ's), and the two codebook recipes"),
    "initialization": (("seeds-budget", "converged", "codebook-lr", "ema", "sgd"), "fixed PCA encoder: the codebook recipes "
                       "matter, not the encoder's descent; converged, each codebook trains until its validation distortion stops falling"),
}
