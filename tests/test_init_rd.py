"""k-means against scikit-learn; reverse water-filling against a case solved by hand; quantizer and data."""

import math

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from vqlib import data, init, quantize, rd


def test_assign_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    z, cb = torch.randn(2, 50, 3, generator=g), torch.randn(2, 8, 3, generator=g)
    brute = ((z.unsqueeze(2) - cb.unsqueeze(1)) ** 2).sum(-1).argmin(-1)
    assert torch.equal(quantize.assign(z, cb), brute)


@pytest.mark.parametrize("K,m", [(8, 2), (16, 4)])
def test_kmeans_inertia_within_one_percent_of_sklearn(K, m):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2000, m, generator=gen, dtype=torch.float64)
    ours = init.kmeans(x, K, iters=300, seed=0)
    inertia = quantize.sq_distances(x, ours).min(-1).values.sum(-1).numpy()
    # scikit-learn with the same recipe: one greedy k-means++ seeding, then Lloyd to convergence.
    ref = np.array([KMeans(K, n_init=1, random_state=s).fit(x[s].numpy()).inertia_ for s in range(3)])
    assert inertia.mean() <= 1.01 * ref.mean()


def test_kmeans_rejects_more_codes_than_points():
    with pytest.raises(ValueError, match="K must be"):
        init.kmeans(torch.randn(1, 10, 2), 11)


def test_pca_spans_the_true_subspace():
    tb = data.linear_gaussian(2, 20, torch.tensor([4.0, 2.0, 1.0]), 0.05, 20000, 10, seed=0)
    enc, var = init.pca(tb.x_train, 3)
    from vqlib.metrics import principal_angles_deg

    assert principal_angles_deg(enc.transpose(1, 2), tb.A).max() < 2.0
    np.testing.assert_allclose(var.mean(0).numpy(), [4.0025, 2.0025, 1.0025], rtol=0.05)


def test_reverse_water_filling_by_hand():
    # λ = (4, 1, 0.25) at R = 2 bits: try all active: θ = (4·1·0.25)^(1/3)·2^(−4/3) = 0.397 > 0.25,
    # so the third component gets no bits; with two active: θ = (4·1)^(1/2)·2^(−2) = 0.5 < 1.
    wf = rd.reverse_water_filling([4.0, 1.0, 0.25], 2.0)
    assert wf.theta == pytest.approx(0.5)
    np.testing.assert_allclose(wf.distortions, [0.5, 0.5, 0.25])
    np.testing.assert_allclose(wf.rates, [1.5, 0.5, 0.0])
    assert wf.rates.sum() == pytest.approx(2.0)
    np.testing.assert_allclose(wf.reproduction_variances, [3.5, 0.5, 0.0])


def test_scalar_gaussian_dr_is_sigma2_4_pow_minus_R():
    assert rd.gaussian_dr([2.0], 3.0) == pytest.approx(2.0 * 2 ** (-6))
    assert rd.gaussian_rd([2.0], 2.0 * 2 ** (-6)) == pytest.approx(3.0)
    assert rd.bits(32) == 5.0
    assert rd.gap_db(2.0, 1.0) == pytest.approx(10 * math.log10(2))


def test_linear_gaussian_rejects_m_above_D():
    with pytest.raises(ValueError, match="m .* at most D"):
        data.linear_gaussian(1, 3, torch.ones(4), 0.1, 10, 10)


def test_lloyd_stops_per_seed():
    # Seed b starts at a Lloyd fixed point and dominates any pooled error (1000× the scale); seed a needs many
    # iterations. If stopping depended on the pooled error, a would stop with b, after two iterations.
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(1, 500, 2, generator=gen, dtype=torch.float64)
    b = 1000 * torch.randn(1, 500, 2, generator=gen, dtype=torch.float64)
    start_a = a[:, :8].clone()
    start_b = init.lloyd(b, b[:, 100:108].clone(), iters=500, tol=0.0)
    for tol in (1e-3, 1e-7):
        alone = init.lloyd(a, start_a, iters=100, tol=tol)
        assert not torch.allclose(alone, init.lloyd(a, start_a, iters=2, tol=tol))  # a does need more than two
        stacked = init.lloyd(torch.cat([a, b]), torch.cat([start_a, start_b]), iters=100, tol=tol)
        torch.testing.assert_close(stacked[:1], alone, rtol=0, atol=1e-12)
        torch.testing.assert_close(stacked[1:], init.lloyd(b, start_b, iters=100, tol=tol), rtol=0, atol=1e-9)


def test_kmeans_accepts_one_plain_point_set():
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    one = init.kmeans(x, 5, seed=3)
    assert one.shape == (5, 2)
    torch.testing.assert_close(one, init.kmeans(x.unsqueeze(0), 5, seed=3)[0])


def test_kmeans_best_of_restarts_is_no_worse_than_one_run():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 500, 2, generator=gen, dtype=torch.float64)
    err = lambda cb: quantize.nearest(x, cb)[0].mean(-1)  # noqa: E731
    best = init.kmeans_best_of(x, 8, restarts=3, seed=0)
    assert torch.all(err(best) <= err(init.kmeans(x, 8, seed=0)) + 1e-12)
    assert torch.all(err(best) <= err(init.kmeans(x, 8, seed=2)) + 1e-12)
