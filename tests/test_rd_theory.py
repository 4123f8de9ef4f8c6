"""Lloyd–Max against closed forms, Max's table and an independent optimizer; water-filling; k-means against Lloyd–Max."""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import scipy.stats
import torch

from vqlib import init, rd

CHAPTER_N = [1, 2, 4, 8, 16, 32]
#: Max (1960), Table I: mean squared error of the optimum N-level quantizer of N(0, 1).
MAX_1960 = {2: 0.3634, 4: 0.1175, 8: 0.03454}


def test_lloyd_max_closed_forms():
    one = rd.lloyd_max(1)
    assert one.mse == 1.0 and one.levels.tolist() == [0.0] and one.thresholds.size == 0
    two = rd.lloyd_max(2)
    assert two.mse == pytest.approx(1 - 2 / math.pi, rel=1e-13)
    np.testing.assert_allclose(two.levels, [-math.sqrt(2 / math.pi), math.sqrt(2 / math.pi)], rtol=1e-13)
    np.testing.assert_allclose(two.thresholds, [0.0], atol=1e-14)


@pytest.mark.parametrize("N,published", sorted(MAX_1960.items()))
def test_lloyd_max_matches_max_1960_to_his_last_digit(N, published):
    digits = len(str(published).split(".")[1])
    assert abs(rd.lloyd_max(N).mse - published) <= 10.0**-digits  # one unit of Max's last printed digit


@pytest.mark.parametrize("N", CHAPTER_N)
def test_lloyd_max_mse_is_the_integral_of_its_error(N):
    """The closed-form partial moments against scipy's adaptive quadrature of (x − Q(x))² φ(x)."""
    q = rd.lloyd_max(N)
    edges = np.concatenate([[-np.inf], q.thresholds, [np.inf]])
    total = sum(
        scipy.integrate.quad(lambda x, y=y: (x - y) ** 2 * scipy.stats.norm.pdf(x), a, b, epsabs=1e-14, epsrel=1e-12)[0]
        for a, b, y in zip(edges[:-1], edges[1:], q.levels)
    )
    assert q.mse == pytest.approx(total, rel=1e-9)
    assert np.all(np.diff(q.levels) > 0) and np.all(q.levels[:-1] < q.thresholds) and np.all(q.thresholds < q.levels[1:])
    np.testing.assert_allclose(q.levels, -q.levels[::-1], atol=1e-12)  # symmetric, as N(0, 1) is


def _distortion_and_gradient(t: np.ndarray) -> tuple[float, np.ndarray]:
    """Σ_i P_i Var_i over the cells cut at sorted t (levels at centroids), via scipy's truncnorm, and its gradient."""
    t = np.sort(t)
    edges = np.concatenate([[-np.inf], t, [np.inf]])
    a, b = edges[:-1], edges[1:]
    p = scipy.stats.norm.cdf(b) - scipy.stats.norm.cdf(a)
    cells = scipy.stats.truncnorm(a, b)
    y = cells.mean()
    d = float(np.sum(p * cells.var()))
    # ∂D/∂t_i = φ(t_i)[(t_i − y_i)² − (t_i − y_{i+1})²] (the centroids' own variation cancels)
    grad = scipy.stats.norm.pdf(t) * ((t - y[:-1]) ** 2 - (t - y[1:]) ** 2)
    return d, grad


@pytest.mark.parametrize("N", [n for n in CHAPTER_N if n > 1])
def test_lloyd_max_matches_direct_minimization_over_thresholds(N):
    """A second method: BFGS on the distortion as a function of the thresholds, from uniform thresholds."""
    start = np.linspace(-2.0, 2.0, N + 1)[1:-1]
    res = scipy.optimize.minimize(_distortion_and_gradient, start, jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 10000})
    q = rd.lloyd_max(N)
    assert res.fun == pytest.approx(q.mse, rel=1e-8)
    np.testing.assert_allclose(np.sort(res.x), q.thresholds, atol=1e-4)
    assert q.mse <= res.fun * (1 + 1e-12)  # nothing the optimizer finds beats it


def test_commonly_cited_n16_n32_values_are_below_the_optimum():
    """0.009497 (N = 16) and 0.002499 (N = 32) are lower than the least achievable MSE, so they cannot be exact."""
    for N, cited in [(16, 0.009497), (32, 0.002499)]:
        exact = rd.lloyd_max(N).mse
        assert exact > cited * (1 + 1e-4)
    assert rd.lloyd_max(16).mse == pytest.approx(0.009501008, abs=1e-9)
    assert rd.lloyd_max(32).mse == pytest.approx(0.002504668, abs=1e-9)


def test_lloyd_max_is_between_the_bound_and_panter_dite_and_approaches_it():
    ratios = []
    for N in [2, 4, 8, 16, 32, 64, 128]:
        q = rd.lloyd_max(N)
        assert rd.gaussian_dr([1.0], q.rate_bits) < q.mse < rd.panter_dite(q.rate_bits)
        ratios.append(q.mse / rd.panter_dite(q.rate_bits))
    assert np.all(np.diff(ratios) > 0) and ratios[-1] > 0.98


def test_scalar_mse_of_one_level_at_c_is_one_plus_c2():
    assert rd.scalar_mse([0.7]) == pytest.approx(1.49)
    assert rd.scalar_mse([1.0, -1.0]) == pytest.approx(rd.scalar_mse([-1.0, 1.0], [0.0]))


@pytest.mark.parametrize("bad", [0, -3, 2.0, True])
def test_lloyd_max_rejects_bad_n_levels(bad):
    with pytest.raises((TypeError, ValueError), match="n_levels"):
        rd.lloyd_max(bad)


def test_panter_dite_value_and_bad_rate():
    assert rd.panter_dite(0.0) == pytest.approx(math.sqrt(3) * math.pi / 2)
    assert rd.panter_dite(1.0) == pytest.approx(math.sqrt(3) * math.pi / 8)
    with pytest.raises(ValueError, match="rate_bits"):
        rd.panter_dite(-1.0)


SPECTRUM = [4.01, 2.01, 1.01, 0.51, 0.01, 0.01]


def test_reverse_water_filling_spends_exactly_the_rate_and_is_monotone_in_R():
    rates = np.linspace(0.0, 20.0, 81)
    sols = [rd.reverse_water_filling(SPECTRUM, r) for r in rates]
    for r, s in zip(rates, sols):
        assert s.rates.sum() == pytest.approx(r, abs=1e-9)
        np.testing.assert_allclose(s.distortions, np.minimum(s.theta, SPECTRUM))
    theta = np.array([s.theta for s in sols])
    dist = np.array([s.distortion for s in sols])
    per_component = np.array([s.distortions for s in sols])
    assert np.all(np.diff(theta) <= 0) and np.all(np.diff(dist) < 0)
    assert np.all(np.diff(per_component, axis=0) <= 1e-15)  # no component's distortion ever grows with R
    assert np.all(np.diff(np.array([s.rates for s in sols]), axis=0) >= -1e-12)  # nor does any rate fall
    assert dist[0] == pytest.approx(sum(SPECTRUM))


def test_reverse_water_filling_agrees_with_gaussian_rd():
    for r in [0.5, 3.0, 9.0]:
        assert rd.gaussian_rd(SPECTRUM, rd.gaussian_dr(SPECTRUM, r)) == pytest.approx(r, rel=1e-9)


@pytest.mark.parametrize("K", [4, 8, 16])
def test_kmeans_reaches_lloyd_max_within_one_percent_on_fresh_error(K):
    """vqlib's k-means on 1-D Gaussian samples, scored on the exact density (not on its training points)."""
    x = torch.randn(3, 50000, 1, generator=torch.Generator().manual_seed(K), dtype=torch.float64)
    codebooks = init.kmeans(x, K, iters=300, seed=1)
    exact = np.array([rd.scalar_mse(c[:, 0].numpy()) for c in codebooks])
    assert np.all(exact <= 1.01 * rd.lloyd_max(K).mse)
    assert np.all(exact >= rd.lloyd_max(K).mse * (1 - 1e-12))  # and, on the density, never below the optimum
