"""Lloyd–Max against closed forms, Max's table and an independent optimizer; water-filling; k-means against Lloyd–Max."""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import scipy.stats
import torch

from vqlib import init, quantize, rd

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


# --- Random codes at finite dimension (Zador's high-resolution argument) ---------------------------


@pytest.mark.parametrize("k,expected", [(1, 6.0), (2, 2.0), (3, 1.505), (4, 1.329), (8, 1.133)])
def test_random_code_penalty_over_the_sphere_bound(k, expected):
    # The field notes' values of Γ(2 + 2/k), reproduced both by the constant and by the two formulas:
    # the random code at its best density (N(0, (k+2)/k Σ)) over the sphere bound, for any spectrum.
    assert rd.random_code_penalty(k) == pytest.approx(expected, abs=1e-3)
    lam = np.linspace(2.0, 0.5, k)
    ratio = rd.random_code_distortion(lam, rd.point_density_variances(lam), 64) / rd.sphere_bound(lam, 64)
    assert ratio == pytest.approx(math.gamma(2 + 2 / k), rel=1e-12)


def test_unit_ball_volumes():
    assert rd.unit_ball_volume(1) == pytest.approx(2.0)
    assert rd.unit_ball_volume(2) == pytest.approx(math.pi)
    assert rd.unit_ball_volume(3) == pytest.approx(4 * math.pi / 3)


def test_sphere_bound_in_one_dimension_is_panter_dite():
    assert rd.sphere_bound([2.0], 32) == pytest.approx(2.0 * rd.panter_dite(5.0), rel=1e-12)


def test_random_code_integral_diverges_where_the_tails_win():
    # g = p: ∫ p^{1 − 2/k} is finite only for k > 2; a zero-variance component makes g singular.
    assert math.isinf(rd.gaussian_density_integral([1.0], [1.0]))
    assert math.isinf(rd.gaussian_density_integral([1.0, 1.0], [1.0, 1.0]))
    assert math.isfinite(rd.gaussian_density_integral([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]))
    assert math.isinf(rd.random_code_distortion([4.0, 1.0, 0.25], [3.5, 0.5, 0.0], 4))
    # on the active subspace: the dead component adds its variance, the formula runs in the other dimensions
    sub = rd.random_code_distortion([4.0, 1.0, 1.0, 0.25], [3.0, 3.0, 3.0, 0.0], 64, subspace=True)
    assert sub == pytest.approx(0.25 + rd.random_code_distortion([4.0, 1.0, 1.0], [3.0, 3.0, 3.0], 64))


def _mc_random_code(lam, gam, K, n_books, n_x, seed):
    gen = torch.Generator().manual_seed(seed)
    lam_t, gam_t = torch.tensor(lam, dtype=torch.float64), torch.tensor(gam, dtype=torch.float64)
    books = torch.randn(n_books, K, len(lam), generator=gen, dtype=torch.float64) * gam_t.sqrt()
    x = torch.randn(n_books, n_x, len(lam), generator=gen, dtype=torch.float64) * lam_t.sqrt()
    return float(quantize.nearest(x, books)[0].mean())


def test_random_code_prediction_in_one_dimension():
    # 1-D, K = 1024 codes (10 bits), g the best density N(0, 3λ). Each codebook is scored on the exact density
    # (rd.scalar_mse), so the only noise is the choice of codebook: 200 codebooks put the standard error of
    # the mean near 1 %. The high-resolution error at 10 bits is well under that, so 5 % is a 4-SE tolerance
    # that still rejects a wrong constant (Γ(1 + 2/k) = 2 here; the sphere bound is 6 times smaller).
    K, lam = 1024, 1.0
    gam = rd.point_density_variances([lam])
    gen = torch.Generator().manual_seed(3)
    books = torch.randn(200, K, generator=gen, dtype=torch.float64) * math.sqrt(gam[0])
    measured = np.mean([rd.scalar_mse(b.numpy()) for b in books])
    assert measured == pytest.approx(rd.random_code_distortion([lam], gam, K), rel=0.05)


def test_random_code_prediction_in_two_dimensions():
    # 2-D, K = 1024 (5 bits per dimension), λ = (2, 0.5), g = N(0, 2Σ): 10 codebooks × 10 000 vectors (standard
    # error about 1 %); 5 % leaves room for the high-resolution error at 5 bits per dimension and still
    # separates Γ(2) = 1 from a wrong constant (the sphere bound is half the prediction).
    lam = [2.0, 0.5]
    gam = rd.point_density_variances(lam)
    measured = _mc_random_code(lam, gam.tolist(), 1024, 10, 10000, seed=4)
    assert measured == pytest.approx(rd.random_code_distortion(lam, gam, 1024), rel=0.05)


# --- Transform coding ---------------------------------------------------------------------------------


def test_allocation_hand_solved_power_of_two():
    # λ = (4, 1, 0.01), K = 4. Doubling gains (Lloyd–Max: 1 → 0.3634 → 0.1175): first 4·0.6366 = 2.55 (axis 1);
    # then axis 1 again 4·(0.3634 − 0.1175) = 0.98 beats axis 2's 0.64: levels (4, 1, 1), axes 2 and 3 get no bits.
    np.testing.assert_array_equal(rd.allocate_levels([4.0, 1.0, 0.01], 4), [4, 1, 1])
    # λ = (1, 1), K = 4: axis 1 (tie, first), then axis 2 (0.64 > 0.25): (2, 2).
    np.testing.assert_array_equal(rd.allocate_levels([1.0, 1.0], 4), [2, 2])
    assert int(np.prod(rd.allocate_levels([4.0, 2.0, 1.0, 0.5], 32))) == 32


def test_allocation_hand_solved_not_a_power_of_two():
    # K = 6, λ = (1, 1): doubling gives (2, 2) (product 4; another doubling makes 8 > 6). Then one level more,
    # per bit: axis 1 2 → 3 gains (0.3634 − 0.1902)/log2(1.5) = 0.296 (tie, first): (3, 2), product 6 = K.
    np.testing.assert_array_equal(rd.allocate_levels([1.0, 1.0], 6), [3, 2])
    # K = 5: (2, 2) and no level fits (3·2 = 6 > 5): one code is left over.
    np.testing.assert_array_equal(rd.allocate_levels([1.0, 1.0], 5), [2, 2])
    # K = 3, one axis: doubling 1 → 2, then 2 → 3 levels.
    np.testing.assert_array_equal(rd.allocate_levels([1.0], 3), [3])


def test_transform_coding_distortion_exact_vs_monte_carlo():
    # The closed form Σ λ_i LM(n_i) against 10⁶ vectors quantized by the product codebook (nearest code):
    # the Monte Carlo standard error is about 0.15 %, so 0.5 % is over 3 standard errors.
    lam = np.array([4.0, 2.0, 1.0, 0.5]) + 0.01
    levels = rd.allocate_levels(lam, 32)
    exact = rd.transform_coding_distortion(lam, levels)
    assert exact == pytest.approx(sum(lam_i * rd.lloyd_max(int(n)).mse for lam_i, n in zip(lam, levels)))
    book = torch.from_numpy(rd.product_codebook(lam, levels)).unsqueeze(0)
    assert book.shape == (1, 32, 4)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(1, 1_000_000, 4, generator=gen, dtype=torch.float64) * torch.from_numpy(np.sqrt(lam))
    mc = float(quantize.nearest(x, book)[0].mean())
    assert mc == pytest.approx(exact, rel=0.005)


def test_transform_coding_initializer_rotates_back_and_has_exactly_K_codes():
    # A rotated Gaussian: the initializer's KLT must undo the rotation, so its distortion is the exact one.
    gen = torch.Generator().manual_seed(6)
    lam = torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    z = (torch.randn(2, 50_000, 3, generator=gen, dtype=torch.float64) * lam.sqrt()) @ Q.T + 1.0
    book = init.transform_coding(z.float(), 16, seed=0)
    assert book.shape == (2, 16, 3)
    mse = quantize.nearest(z, book.double())[0].mean(-1)
    exact = rd.transform_coding_distortion(lam.numpy(), rd.allocate_levels(lam.numpy(), 16))
    np.testing.assert_allclose(mse.numpy(), exact, rtol=0.02)
    # K = 7 is no product of level counts here: the leftover codes are distinct training vectors
    book6 = init.transform_coding(z.float(), 7, seed=0)
    assert book6.shape == (2, 7, 3) and torch.unique(book6[0], dim=0).shape[0] == 7


def test_point_density_sampler_has_the_widened_covariance():
    gen = torch.Generator().manual_seed(7)
    z = torch.randn(1, 50_000, 2, generator=gen) * torch.tensor([2.0, 0.5])
    codes = init.point_density_from(z, 4096, seed=1)[0].double()
    np.testing.assert_allclose(codes.var(0).numpy(), 2.0 * np.array([4.0, 0.25]), rtol=0.06)
    assert set(init.INITIALIZERS) >= {"point_density", "transform_coding"}


def test_greedy_level_allocation_is_never_below_the_exhaustive_search():
    from vqlib.analysis import rate_distortion as rda

    out = rda.allocation_gap([4.0, 2.0, 1.0], 8)
    assert out["rd_alloc_K"] == 8 and out["rd_alloc_k"] == 3
    assert float(out["rd_alloc_greedy_gap"].rstrip(" %")) >= 0  # the exhaustive search includes the greedy allocation
