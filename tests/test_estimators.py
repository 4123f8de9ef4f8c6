"""Each estimator: value q exactly, gradient to z equal to its closed form, batched, finite at q = z."""

import pytest
import torch

from vqlib import estimators as est

NAMES = sorted(set(est.ESTIMATORS) - est.TRAINING_ONLY)  # NSVQ's value is not q: tests/test_estimator_study.py


def _pair(shape=(3, 7, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64), torch.randn(*shape, generator=g, dtype=torch.float64), torch.randn(*shape, generator=g, dtype=torch.float64)


def _grad(name, z, q, g):
    z = z.clone().requires_grad_(True)
    q = q.clone().requires_grad_(True)
    out = est.get_estimator(name)(z, q)
    out.backward(g)
    return out, z.grad, q.grad


def rotation_matrix(z, q):
    """λR built explicitly for one pair of vectors, R = I − 2rrᵀ + 2q̂êᵀ."""
    e, qh = z / z.norm(), q / q.norm()
    r = (e + qh) / (e + qh).norm()
    eye = torch.eye(len(z), dtype=z.dtype)
    return (q.norm() / z.norm()) * (eye - 2 * torch.outer(r, r) + 2 * torch.outer(qh, e))


@pytest.mark.parametrize("name", NAMES)
def test_forward_is_q_exactly_and_only_z_gets_gradient(name):
    z, q, g = _pair()
    out, gz, gq = _grad(name, z.float(), q.float(), g.float())
    assert torch.equal(out, q.float())
    assert gz is not None and gq is None
    assert out.shape == z.shape


@pytest.mark.parametrize("name", ["ste", "ste_manual"])
def test_ste_gradient_is_identity(name):
    z, q, g = _pair()
    _, gz, _ = _grad(name, z, q, g)
    assert torch.equal(gz, g)


def test_projection_gradient_is_uuT_g():
    z, q, g = _pair()
    _, gz, _ = _grad("projection", z, q, g)
    u = (q - z) / (q - z).norm(dim=-1, keepdim=True)
    expected = torch.einsum("...i,...j,...j->...i", u, u, g)
    torch.testing.assert_close(gz, expected)


def test_rotation_trick_gradient_is_lambda_RT_g_built_explicitly():
    z, q, g = _pair()
    _, gz, _ = _grad("rotation_trick", z, q, g)
    flat = zip(z.reshape(-1, 5), q.reshape(-1, 5), g.reshape(-1, 5))
    expected = torch.stack([rotation_matrix(a, b).T @ c for a, b, c in flat]).reshape(z.shape)
    torch.testing.assert_close(gz, expected)


def test_rotation_matrix_maps_z_to_q_and_is_a_scaled_rotation():
    z, q, _ = _pair((5,))
    M = rotation_matrix(z, q)
    torch.testing.assert_close(M @ z, q)
    lam = q.norm() / z.norm()
    R = M / lam
    torch.testing.assert_close(R.T @ R, torch.eye(5, dtype=z.dtype))
    assert torch.linalg.det(R) == pytest.approx(1.0)


def test_autograd_and_manual_ste_give_identical_gradients():
    z, q, g = _pair(seed=3)
    assert torch.equal(_grad("ste", z, q, g)[1], _grad("ste_manual", z, q, g)[1])


@pytest.mark.parametrize("name", NAMES)
def test_finite_at_q_equal_z(name):
    z, _, g = _pair()
    _, gz, _ = _grad(name, z, z.clone(), g)
    assert torch.isfinite(gz).all()


def test_projection_gradient_is_zero_at_q_equal_z():
    z, _, g = _pair()
    _, gz, _ = _grad("projection", z, z.clone(), g)
    assert torch.equal(gz, torch.zeros_like(gz))


def test_rotation_trick_tends_to_ste_as_z_approaches_q():
    z, q, g = _pair()
    _, gz, _ = _grad("rotation_trick", q + 1e-7 * z, q, g)
    torch.testing.assert_close(gz, g, atol=1e-5, rtol=1e-5)


def test_rotation_trick_at_zero_z_falls_back_to_ste():
    _, q, g = _pair()
    _, gz, _ = _grad("rotation_trick", torch.zeros_like(q), q, g)
    assert torch.equal(gz, g)


def test_unknown_estimator_lists_known_ones():
    with pytest.raises(ValueError, match="rotation_trick"):
        est.get_estimator("rotation")


def test_shape_mismatch_is_named():
    with pytest.raises(ValueError, match="same shape"):
        est.straight_through(torch.zeros(2, 3), torch.zeros(2, 4))
