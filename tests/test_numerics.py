"""Estimators stay finite at their singular points and in float32 with huge or tiny norms, and the rotation trick
matches vector-quantize-pytorch's implementation (an independent oracle) where both define the same gradient."""

import pytest
import torch
from vector_quantize_pytorch.vector_quantize_pytorch import rotate_to

from vqlib import estimators as est
from vqlib.models import LinearVQ

NAMES = sorted(est.ESTIMATORS)


def _randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _grad(name, z, q, g):
    z = z.clone().requires_grad_(True)
    est.get_estimator(name)(z, q).backward(g)
    return z.grad


SINGULAR = {
    "q-equals-z": lambda z, q: (z, z.clone()),
    "z-zero": lambda z, q: (torch.zeros_like(z), q),
    "q-zero": lambda z, q: (z, torch.zeros_like(q)),
    "both-zero": lambda z, q: (torch.zeros_like(z), torch.zeros_like(q)),
    "q-opposite-z": lambda z, q: (z, -2.0 * z),
    "z-tiny": lambda z, q: (1e-30 * z, q),
}


@pytest.mark.parametrize("case", SINGULAR, ids=list(SINGULAR))
@pytest.mark.parametrize("name", NAMES)
def test_finite_at_singular_points(name, case):
    z, q = SINGULAR[case](_randn(64, 8, seed=1), _randn(64, 8, seed=2))
    g = _randn(64, 8, seed=3)
    assert torch.isfinite(_grad(name, z, q, g)).all()


def test_rotation_trick_at_opposite_vectors_is_the_reflection_that_maps_z_to_q():
    z = _randn(16, 5, seed=1, dtype=torch.float64)
    q = -3.0 * z
    g = _randn(16, 5, seed=2, dtype=torch.float64)
    e = z / z.norm(dim=-1, keepdim=True)
    expected = 3.0 * (g - 2 * e * (e * g).sum(-1, keepdim=True))  # λ(I − 2êêᵀ)g, λ = ‖q‖/‖z‖ = 3
    torch.testing.assert_close(_grad("rotation_trick", z, q, g), expected)


@pytest.mark.parametrize("scale", [1e10, 1e20, 1e30, 1e-15])
@pytest.mark.parametrize("name", NAMES)
def test_float32_gradient_is_scale_free_even_for_huge_and_tiny_norms(name, scale):
    """Every estimator's gradient is unchanged when z and q are scaled together: float32 must keep that even where
    the squares of the entries overflow (1e20, 1e30). Far below the zero guard (1e-15) it must stay finite, and the
    rotation trick is then defined as STE."""
    z, q, g = _randn(256, 16, seed=4), _randn(256, 16, seed=5), _randn(256, 16, seed=6)
    reference = _grad(name, z.double(), q.double(), g.double())
    scaled = _grad(name, scale * z, scale * q, g)
    assert scaled.dtype == torch.float32 and torch.isfinite(scaled).all()
    if scale >= 1:
        torch.testing.assert_close(scaled.double(), reference, rtol=1e-4, atol=1e-4)
    elif name == "rotation_trick":  # ‖z‖ below the guard: defined as STE
        assert torch.equal(scaled, g)


def test_a_training_step_with_huge_inputs_stays_finite():
    S, D, m, K = 2, 8, 3, 5
    enc = torch.eye(D)[:m].expand(S, m, D).clone()
    for name in NAMES:
        model = LinearVQ(enc, 1e15 * _randn(S, K, m), enc.transpose(1, 2), name)
        loss = model.losses(1e15 * _randn(S, 20, D, seed=7), 0.25)["total"].sum()
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# -- vector-quantize-pytorch as an oracle ------------------------------------------------------------------------


@pytest.mark.parametrize("m", [2, 4, 64])
def test_rotation_trick_gradient_equals_vector_quantize_pytorch(m):
    """Its rotate_to(z, q) has value ≈ q and gradient λRᵀg to z (R, λ detached): the same definition as ours."""
    z, q, g = (_randn(500, m, seed=s, dtype=torch.float64) for s in (10, 11, 12))
    q = q * torch.rand(500, 1, generator=torch.Generator().manual_seed(13), dtype=torch.float64) * 3  # varied ‖q‖/‖z‖
    zz = z.clone().requires_grad_(True)
    theirs = rotate_to(zz, q)
    theirs.backward(g)
    ours = _grad("rotation_trick", z, q, g)
    torch.testing.assert_close(theirs.detach(), q)
    torch.testing.assert_close(ours, zz.grad, rtol=1e-9, atol=1e-9)


def test_rotation_trick_equals_vector_quantize_pytorch_in_float32_batches():
    z, q, g = (_randn(8, 100, 16, seed=s) for s in (20, 21, 22))
    zz = z.clone().requires_grad_(True)
    rotate_to(zz, q).backward(g)
    torch.testing.assert_close(_grad("rotation_trick", z, q, g), zz.grad, rtol=1e-4, atol=1e-5)


def test_vector_quantize_pytorch_layer_sends_our_rotation_gradient():
    """Its VectorQuantize layer (rotation trick on) sends to its input exactly our rotation-trick gradient."""
    from vector_quantize_pytorch import VectorQuantize

    B, m, K = 200, 6, 16
    vq = VectorQuantize(dim=m, codebook_size=K, rotation_trick=True, commitment_weight=0.0, freeze_codebook=True)
    vq.train()
    x = _randn(1, B, m, seed=30).requires_grad_(True)
    g = _randn(1, B, m, seed=31)
    out, idx, _ = vq(x)
    out.backward(g)
    q = vq.codebook[idx[0]].detach()  # the codes it chose
    torch.testing.assert_close(out.detach()[0], q, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad[0], _grad("rotation_trick", x.detach()[0], q, g[0]), rtol=1e-4, atol=1e-5)
