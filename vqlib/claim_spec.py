"""The schema of a seed claim (ClaimSpec): what it says, where, and how a result frame decides it.

The registry of every claim is vqlib.claim_registry; the one evaluator is vqlib.claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vqlib.stats import sig

KINDS = ("equivalence", "directional", "size")
SIDEDNESS = ("one-sided", "two-sided")
#: Dead codes count as similar when the paired difference lies within ±10 percentage points of K.
DEAD_MARGIN_PCT = 10.0
#: Reconstruction MSE counts as equivalent when the paired relative difference lies within ±2 %.
MSE_MARGIN = 0.02
ROT = "projection"  # the seeds' "rotation"
RT = "rotation_trick"  # the published rotation trick (Fifty et al.), which the convolutional model runs in ROT's place
#: The column of a synthetic chapter's frame with the noise floor (D − m)σ²/D per coordinate (claims.with_floor): relative
#: reconstruction margins there are judged on the excess over it.
FLOOR = "noise_floor"


@dataclass(frozen=True)
class ClaimSpec:
    """One seed claim, written once: what it says, where, and how a result frame decides it."""

    id: str
    source: str  # seed document and section
    quote: str  # the seed's words
    seed_value: str  # the seed's number as the seed gives it ("" when qualitative)
    metric: str  # column of the result frame
    kind: str  # one of KINDS
    b: str | tuple[str, ...]  # the method(s) the claim is about
    a: str | None = None  # the paired reference method (None: a level of b itself)
    margin: float = 0.0  # equivalence: ±δ; size: the threshold t; two-sided: |b − a| ≥ margin (in the units compared)
    sign: int = 1  # directional/size: +1 "b above a (or above t)", −1 "below"
    relative: bool = False  # compare (b − a)/a per seed instead of b − a
    reduction: bool = False  # compare 1 − mean(b)/mean(a), paired BCa bootstrap CI (stats.reduction_bca)
    where: tuple[dict, ...] = field(default_factory=lambda: ({},))  # the cases: column filters on the frame
    section: str = ""  # label of the section that measures it
    scale: float = 1.0  # display factor (100: fractions shown in %)
    unit: str = ""  # display unit after scaling
    also: tuple["ClaimSpec", ...] = ()  # further conditions on other metrics, all of which must hold too
    combine: str = "all"  # over the cases: "all" must hold, or "any" ("up to", "at some K") suffices
    sidedness: str = "one-sided"  # "two-sided": "the methods differ" (either direction holds; sign unused)
    label: str = ""  # a short plain-language name for the book's tables (≤ 60 characters)
    directions: tuple[str, str] = ("higher", "lower")  # two-sided: words for b above / below a, shown with the verdict
    floor: str = ""  # relative: column of the frame holding the noise floor; (b − a)/(a − floor), the excess over the floor
    untestable: str = ""  # why no measurement here can test the claim (a checklist item, a methods statement): "not testable"
    mechanism: str = ""  # where a chapter found why the verdict changes with the setting: the conditional statement

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {self.kind!r}")
        if self.sign not in (1, -1):
            raise ValueError(f"sign must be +1 or −1, got {self.sign!r}")
        if self.combine not in ("all", "any"):
            raise ValueError(f"combine must be 'all' or 'any', got {self.combine!r}")
        if self.kind == "equivalence" and self.margin <= 0:
            raise ValueError(f"an equivalence claim needs a margin > 0, got {self.margin}")
        if self.sidedness not in SIDEDNESS:
            raise ValueError(f"sidedness must be one of {list(SIDEDNESS)}, got {self.sidedness!r}")
        if self.sidedness == "two-sided" and (self.kind == "equivalence" or self.sign != 1 or self.margin < 0):
            raise ValueError("a two-sided claim is directional or size, with sign +1 and a threshold margin ≥ 0 (|b − a| ≥ margin)")

    def criterion(self) -> str:
        """The decision rule in words (shown in the verdict table)."""
        if self.untestable:
            return f"not testable: {self.untestable}"
        rel = f" (relative to {self.a}'s excess over the noise floor {self.floor})" if self.floor else " (relative)"
        what = f"{self.metric} of {_names(self.b)}" + (f" − {self.a}" + (rel if self.relative else "") if self.a else "")
        if self.reduction:
            what = f"the reduction 1 − {self.metric}({_names(self.b)}) / {self.metric}({self.a}) (paired BCa bootstrap)"
        cases = "" if self.where == ({},) else f" at {'every' if self.combine == 'all' else 'some'} case (" + "; ".join(_case(w) for w in self.where) + ")"
        m = f"{sig(self.margin * self.scale)}{self.unit}"
        ci = f"95 % CI (2.5 % per side) of {what}"
        if self.kind == "equivalence":
            rule = f"{ci} inside ±{m} → holds (TOST), entirely outside → does not hold, else inconclusive"
        elif self.sidedness == "two-sided":
            beyond = "0" if self.kind == "directional" else f"±{m}"
            rule = f"{ci} entirely beyond {beyond} on either side → holds (the direction is reported)"
            rule += ", else inconclusive" if self.kind == "directional" else f", inside ±{m} → does not hold, else inconclusive"
        elif self.kind == "directional":
            side = "above" if self.sign > 0 else "below"
            rule = f"{ci} entirely {side} 0 → holds, entirely on the other side or 0 → does not hold, else inconclusive"
        else:
            side = "at or above" if self.sign > 0 else "at or below"
            rule = f"{ci} entirely {side} {m} → holds, entirely short of it → does not hold, else inconclusive"
        return rule + cases + "".join(f"; and {p.criterion()}" for p in self.also)


def _ks(*K: int) -> tuple[dict, ...]:
    """The cases of a claim judged at each codebook size K."""
    return tuple({"K": k} for k in K)


def _names(b) -> str:
    return b if isinstance(b, str) else ", ".join(b)


def _case(w: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in w.items()) or "all"
