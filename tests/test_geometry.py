"""The geometry module: closed-form Jacobians against autograd, the projection's and rotation trick's
properties, Voronoi faces against their definition, and the update statistics against a theorem."""

import math
from functools import partial

import numpy as np
import pytest
import scipy.stats
import torch

from vqlib import data, estimators, geometry, metrics, quantize, stats
from vqlib.models import LinearVQ
from vqlib.train import CodebookRecorder, train

NAMES = ["ste", "ste_manual", "projection", "rotation_trick"]


def _pairs(n, m, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, m, generator=g, dtype=torch.float64), torch.randn(n, m, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("m", [2, 5])
def test_closed_form_jacobian_equals_autograd_jacobian(name, m):
    z, q = _pairs(6, m)
    jac = torch.autograd.functional.jacobian(partial(estimators.get_estimator(name), q=q), z)  # (n, m, n, m)
    blocks = torch.stack([jac[i, :, i, :] for i in range(len(z))])
    torch.testing.assert_close(blocks, geometry.jacobian(name, z, q), rtol=1e-12, atol=1e-12)
    off = jac.clone()
    for i in range(len(z)):
        off[i, :, i, :] = 0
    assert off.abs().max() == 0  # each output depends only on its own z


def test_projection_jacobian_is_a_rank_one_orthogonal_projection():
    z, q = _pairs(50, 4, seed=1)
    P = geometry.jacobian("projection", z, q)
    assert torch.all(torch.linalg.matrix_rank(P) == 1)
    torch.testing.assert_close(P @ P, P, atol=1e-7, rtol=0)  # idempotent (up to the EPS guard)
    torch.testing.assert_close(P, P.transpose(-1, -2))
    u = (q - z) / (q - z).norm(dim=-1, keepdim=True)
    torch.testing.assert_close(P @ u.unsqueeze(-1), u.unsqueeze(-1), atol=1e-7, rtol=0)


def test_rotation_trick_jacobian_is_a_scaled_rotation_mapping_z_to_q():
    z, q = _pairs(50, 4, seed=2)
    J = geometry.jacobian("rotation_trick", z, q)
    lam = (q.norm(dim=-1) / z.norm(dim=-1)).reshape(-1, 1, 1)
    R = J / lam
    torch.testing.assert_close(R.transpose(-1, -2) @ R, torch.eye(4, dtype=z.dtype).expand(50, 4, 4))
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(50, dtype=z.dtype))
    torch.testing.assert_close((J @ z.unsqueeze(-1)).squeeze(-1), q)


def test_limits_as_z_approaches_q():
    q = torch.tensor([0.3, -1.2, 0.5, 2.0], dtype=torch.float64)
    d1 = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    d2 = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    eye = torch.eye(4, dtype=torch.float64)
    for t in [1e-2, 1e-4, 1e-6]:
        rot = geometry.jacobian("rotation_trick", q + t * d1, q)
        assert (rot - eye).norm() < 5 * t  # λR → I linearly: the rotation trick tends to STE
        p1, p2 = geometry.jacobian("projection", q + t * d1, q), geometry.jacobian("projection", q + t * d2, q)
        assert (p1 - eye).norm() == pytest.approx(math.sqrt(3), rel=4 * estimators.EPS / t)  # never closer to I
        # no limit either: it depends on the direction of approach (‖u‖ = t/(t + EPS) < 1 is the guard's only effect)
        assert (p1 - p2).norm() == pytest.approx(math.sqrt(2), rel=4 * estimators.EPS / t)
    assert geometry.jacobian("projection", q, q).abs().max() == 0  # the guard: zero gradient at q = z
    torch.testing.assert_close(geometry.jacobian("rotation_trick", q, q), eye)


def test_energy_kept_is_cos2_and_its_law_is_beta():
    g = torch.Generator().manual_seed(3)
    z, q, grad = (torch.randn(20000, 4, generator=g, dtype=torch.float64) for _ in range(3))
    kept = geometry.energy_kept("projection", z, q, grad)
    u = (q - z) / (q - z).norm(dim=-1, keepdim=True)
    torch.testing.assert_close(kept, ((u * grad).sum(-1) / grad.norm(dim=-1)) ** 2)
    law = geometry.kept_fraction_law(4)
    assert law.mean() == pytest.approx(1 / 4)
    assert scipy.stats.kstest(kept.numpy(), law.cdf).pvalue > 0.01
    assert scipy.stats.kstest(kept.numpy(), scipy.stats.beta(0.5, 2.0).cdf).pvalue < 1e-6  # a wrong law is rejected
    torch.testing.assert_close(geometry.energy_kept("ste", z, q, grad), torch.ones(20000, dtype=torch.float64))
    with pytest.raises(ValueError, match="m must be"):
        geometry.kept_fraction_law(1)


def test_jacobian_rejects_unknown_estimator():
    z, q = _pairs(2, 3)
    with pytest.raises(ValueError, match="name must be one of"):
        geometry.jacobian("rotation", z, q)


def test_nearest_boundary_and_face_angle_by_hand():
    C = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    z = torch.tensor([[-0.2, 0.0]])
    b = geometry.nearest_boundary(z, C)
    assert b.own.item() == 0 and b.neighbour.item() == 1
    assert b.distance.item() == pytest.approx(0.2)
    torch.testing.assert_close(b.normal, torch.tensor([[1.0, 0.0]]))
    # the nearest face is the line x = 0: an update along it makes 0°, across it 90°, diagonal 45° (either sign)
    for dz, angle in [([0.0, 1.0], 0.0), ([-2.0, 0.0], 90.0), ([1.0, -1.0], 45.0)]:
        assert geometry.face_angle_deg(torch.tensor([dz]), z, C).item() == pytest.approx(angle, abs=1e-4)


@pytest.mark.parametrize("m", [2, 3])
def test_stepping_across_the_nearest_face_changes_the_code_to_the_neighbour(m):
    g = torch.Generator().manual_seed(m)
    z = torch.randn(2, 500, m, generator=g, dtype=torch.float64)
    C = torch.randn(2, 6, m, generator=g, dtype=torch.float64)
    b = geometry.nearest_boundary(z, C)
    eps = 1e-7
    inside = z + (b.distance - eps).unsqueeze(-1) * b.normal
    across = z + (b.distance + eps).unsqueeze(-1) * b.normal
    assert torch.equal(quantize.assign(inside, C), b.own)
    assert torch.equal(quantize.assign(across, C), b.neighbour)
    assert torch.all(b.distance >= 0)


def test_ste_always_moves_a_misassigned_point_towards_its_better_code():
    """By convexity of ℓ(c) = ‖x − Wc‖²: −∇ℓ(c_k)·(c_k* − c_k) ≥ ℓ(c_k) − ℓ(c_k*) > 0."""
    tb = data.linear_gaussian(4, 3, torch.tensor([3.0, 1.0, 0.5]), 0.1, 10, 2000, seed=5)
    E, W = geometry.random_autoencoder(4, 3, 3, seed=6)
    C = torch.randn(4, 8, 3, generator=torch.Generator().manual_seed(7))
    z = tb.x_eval @ E.transpose(-1, -2)
    dz = geometry.reconstruction_updates("ste", z, tb.x_eval, W, C)
    q = quantize.lookup(C, quantize.assign(z, C))
    torch.testing.assert_close(dz, -2 * (q @ W.transpose(-1, -2) - tb.x_eval) @ W)
    prog = geometry.progress_cosine(dz, z, tb.x_eval, W, C)
    mis = ~prog.isnan()
    assert mis.sum() > 100
    assert torch.all(prog[mis] > 0)
    frame = geometry.update_statistics(["ste", "projection", "rotation_trick"], tb.x_eval, E, W, C)
    assert set(frame.columns) == {"estimator", "seed", "face_angle", "progress", "progress_share", "misassigned"}
    assert np.all(frame[frame.estimator == "ste"].progress_share == 1.0)
    assert frame.face_angle.between(0, 90).all()
    assert frame[frame.estimator == "projection"].progress_share.min() < 1.0  # the theorem is STE's alone


def test_projection_equals_ste_when_the_decoder_is_the_orthonormal_encoders_transpose():
    """g = 2Wᵀ(Wq − x) = 2(q − z) when WᵀW = I and z = Wᵀx: g lies on the z→q line, which uuᵀ keeps whole."""
    tb = data.linear_gaussian(3, 16, torch.tensor([4.0, 2.0, 1.0, 0.5]), 0.1, 10, 500, seed=8)
    E = data.random_orthonormal(3, 16, 4, torch.Generator().manual_seed(9)).transpose(1, 2)
    C = torch.randn(3, 8, 4, generator=torch.Generator().manual_seed(10))
    z = tb.x_eval @ E.transpose(1, 2)
    ste = geometry.reconstruction_updates("ste", z, tb.x_eval, E.transpose(1, 2), C)
    proj = geometry.reconstruction_updates("projection", z, tb.x_eval, E.transpose(1, 2), C)
    torch.testing.assert_close(proj, ste, atol=1e-4, rtol=1e-4)
    E2, W2 = geometry.random_autoencoder(3, 16, 4, seed=11)
    z2 = tb.x_eval @ E2.transpose(1, 2)
    assert (geometry.reconstruction_updates("projection", z2, tb.x_eval, W2, C) - geometry.reconstruction_updates("ste", z2, tb.x_eval, W2, C)).abs().max() > 0.1


def test_random_autoencoder_is_seeded_shaped_and_untied():
    E, W = geometry.random_autoencoder(2, 8, 3, seed=1)
    assert E.shape == (2, 3, 8) and W.shape == (2, 8, 3)
    torch.testing.assert_close(E @ E.transpose(1, 2), torch.eye(3).expand(2, 3, 3))  # orthonormal rows
    assert (W.transpose(1, 2) @ W - torch.eye(3)).abs().max() > 0.1  # the decoder is not orthonormal
    assert torch.equal(E, geometry.random_autoencoder(2, 8, 3, seed=1)[0])
    with pytest.raises(ValueError, match="D must be"):
        geometry.random_autoencoder(2, 0, 3)


def test_codebook_recorder_keeps_snapshots_and_the_last_state():
    tb = data.linear_gaussian(2, 2, torch.tensor([4.0, 2.0]), 0.1, 200, 100, seed=0)
    enc = data.random_orthonormal(2, 2, 2, torch.Generator().manual_seed(1)).transpose(1, 2)
    model = LinearVQ(enc, 0.1 * torch.randn(2, 4, 2), enc.transpose(1, 2), "ste")
    rec = CodebookRecorder(every=5)
    start = model.codebook.detach().clone()
    train(model, tb.x_train, tb.x_eval, 12, 16, 0.05, 0.25, 0, callback=rec)
    traj = rec.trajectory("ste")
    assert rec.steps["ste"] == [0, 5, 10] and traj.shape == (3, 2, 4, 2)
    assert torch.equal(traj[0], start)
    assert torch.equal(rec.last["ste"]["codebook"], model.codebook.detach())
    with pytest.raises(ValueError, match="no codebooks recorded"):
        rec.trajectory("projection")


def test_signal_leakage_of_the_true_and_the_orthogonal_subspace():
    A = data.random_orthonormal(2, 6, 2, torch.Generator().manual_seed(0))
    lam = torch.tensor([3.0, 1.0], dtype=torch.float64)
    assert metrics.signal_leakage(A.transpose(1, 2), A, lam).abs().max() < 1e-12
    full = torch.linalg.qr(torch.cat([A.double(), torch.randn(2, 6, 4, dtype=torch.float64)], -1))[0]
    complement = full[..., 2:].transpose(1, 2)
    torch.testing.assert_close(metrics.signal_leakage(complement, A, lam), torch.full((2,), 4.0, dtype=torch.float64))


def test_sig_formats_significant_digits():
    assert stats.sig(0.0025046683, 4) == "0.002505"
    assert stats.sig(123.456) == "123"
