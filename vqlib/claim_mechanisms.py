"""Where the chapters found why a claim's verdict changes with the training setting: one conditional statement per claim.

Only mechanisms a chapter shows are written here (the chapter is named in the statement); a claim whose verdict differs
between regimes without a mechanism shown is listed in the verdict chapter as NOT_IDENTIFIED. vqlib.claim_registry
attaches each statement to its ClaimSpec (field `mechanism`).
"""

from __future__ import annotations

#: Shown for a claim whose verdict changes with the regime where no chapter found why.
NOT_IDENTIFIED = "mechanism not identified"

MECHANISMS: dict[str, str] = {
    # testbed chapter: STE's dead codes per regime; the equal-MSE claim is left out, as its verdict does not follow this
    # condition (it does not hold with EMA updates, where the codes stay alive)
    "testbed-usage": ("Holds once the codebook keeps up with the encoder (more steps, a faster codebook step, EMA updates): codes "
                      "then stop dying whatever the estimator, as Huh et al. (2023) predict; in the seeds' budget they die "
                      "(testbed chapter)"),
    "init-uniform-dead": ("Holds only while the codebook lags the encoder: with a faster codebook step or EMA updates the uniform "
                          "start ends with no more dead codes than the others (initialization chapter)"),
}
