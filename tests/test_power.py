"""The number of paired seeds fixed in advance from a pilot's spread (vqlib.stats.paired_seeds_for_power)."""

import numpy as np
import scipy.stats

from vqlib import stats


def test_textbook_sample_sizes_of_the_paired_t_test():
    # G*Power, "Means: difference between two dependent means (matched pairs)", two-tailed α = 0.05, power 0.8:
    # effect size dz = 0.5 needs 34 pairs, dz = 0.8 needs 15, dz = 0.2 needs 199.
    assert stats.paired_seeds_for_power(1.0, 0.5) == 34
    assert stats.paired_seeds_for_power(2.0, 1.6) == 15
    assert stats.paired_seeds_for_power(1.0, 0.2) == 199
    assert stats.paired_seeds_for_power(1.0, 0.5, power=0.9) == 44


def test_the_answer_is_the_smallest_n_with_the_power_by_simulation():
    """At the returned n a simulated paired t-test rejects about `power` of the time; at n − 3 clearly less."""
    rng = np.random.default_rng(0)
    n = stats.paired_seeds_for_power(1.0, 0.6)

    def rejected(k: int) -> float:
        d = rng.normal(0.6, 1.0, size=(4000, k))
        return float((scipy.stats.ttest_1samp(d, 0.0, axis=1).pvalue < 0.05).mean())

    assert abs(rejected(n) - 0.8) < 0.03 and rejected(n - 3) < 0.77


def test_degenerate_inputs():
    assert stats.paired_seeds_for_power(1.0, 0.0) is None and stats.paired_seeds_for_power(1.0, float("nan")) is None
    assert stats.paired_seeds_for_power(0.0, 0.1) == 2
    assert stats.paired_seeds_for_power(1.0, 1e-4, n_max=100) is None


def test_the_testbeds_seeds_are_at_least_what_its_pilot_needs():
    """The pilot of vqlib.analysis.testbed.PILOT: spread 0.108 × STE's error, a 5 % effect → 39 seeds, at most what the chapter runs."""
    from vqlib.analysis import testbed
    from vqlib.runner.chapters import ROOT, chapter_defaults, read_chapter

    assert stats.paired_seeds_for_power(0.108, 0.05) == 39
    n = int(testbed.power_values()["testbed_pilot_n"])
    assert n == 39 and n <= chapter_defaults(read_chapter(ROOT / "book" / "testbed.md"))["seeds"]
