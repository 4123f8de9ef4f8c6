"""The published methods (vqlib.published) against their authors' formulas, written here independently.

Each reference below is the authors' forward pass restated in float64 from their released code (DiVeQ's
``diveq`` package class DIVEQ, NSVQ's NSVQ.py, youngsheen/SimVQ's quantizer, FSQ's listing in Mentzer et al.
2023): nearest code by the expanded distance and argmin over an explicit codebook parameter, then their
q̃. Forward values and gradients (to z and to the codebook or SimVQ's linear layer) must agree to 1e-12.
"""

import math

import numpy as np
import pytest
import torch

from vqlib import estimators, published
from vqlib.quantize import quantize

TOL = 1e-12


def _setup(N=7, K=5, m=4, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    z = (scale * torch.randn(N, m, generator=gen, dtype=torch.float64)).requires_grad_(True)
    cb = torch.randn(K, m, generator=gen, dtype=torch.float64).requires_grad_(True)
    w = torch.randn(N, m, generator=gen, dtype=torch.float64)  # upstream gradient: loss = Σ w·q̃
    return z, cb, w


def _authors_nearest(z, cb):
    """The authors' assignment: ‖z‖² + ‖c‖² − 2 z·c, argmin, codebook rows (differentiable in the codebook)."""
    d = (z**2).sum(1, keepdim=True) + (cb**2).sum(1) - 2 * z @ cb.t()
    idx = torch.argmin(d, dim=1)
    return cb[idx], idx


def _grads(out, w, *params):
    return torch.autograd.grad((out * w).sum(), params)


def _noise(seed, shape):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- DiVeQ -----------------------------------------------------------------------------------------------------

def _authors_diveq(z, cb, v, sigma):
    """DIVEQ.forward: direction q − z, random_vectors = N(0, σ) sample + direction, normalized, times ‖q − z‖ (detached unit)."""
    q, _ = _authors_nearest(z, cb)
    direction = q - z
    random_vectors = sigma * v + direction
    normalized = random_vectors / torch.linalg.norm(random_vectors, dim=1, keepdim=True).clamp_min(1e-12)
    return z + torch.linalg.norm(q - z, dim=1, keepdim=True) * normalized.detach()


@pytest.mark.parametrize("sigma", [published.DIVEQ_SIGMA, 0.3])
def test_diveq_matches_authors_forward_and_gradients(sigma):
    z, cb, w = _setup()
    ref = _authors_diveq(z, cb, _noise(11, z.shape), sigma)
    q, _ = quantize(z, cb)
    ours = published.diveq(z, q, torch.Generator().manual_seed(11), sigma)
    assert torch.allclose(ours, ref, atol=TOL, rtol=0)
    mine = _grads(ours, w, z, cb)
    for a, b in zip(mine, _grads(ref, w, z, cb)):
        assert torch.allclose(a, b, atol=TOL, rtol=0)
    assert mine[1].abs().sum() > 0  # the codebook learns through ‖q − z‖


def test_diveq_gradient_is_the_papers_closed_form():
    """z receives g − e(d̂·g), q receives e(d̂·g), e the unit error, d̂ the noisy direction (constant)."""
    z, cb, w = _setup(seed=3)
    q, idx = quantize(z, cb)
    gz, gcb = _grads(published.diveq(z, q, torch.Generator().manual_seed(5)), w, z, cb)
    with torch.no_grad():
        e = (q - z) / (q - z).norm(dim=1, keepdim=True)
        d = (q - z) + published.DIVEQ_SIGMA * _noise(5, z.shape)
        dhat = d / d.norm(dim=1, keepdim=True)
        s = (w * dhat).sum(1, keepdim=True)
        want_cb = torch.zeros_like(cb).index_add_(0, idx, e * s)
    assert torch.allclose(gz, w - e * s, atol=TOL, rtol=0)
    assert torch.allclose(gcb, want_cb, atol=TOL, rtol=0)


def test_diveq_noise_is_absolute_not_relative():
    """Far from its code, the authors' q̃ stays within ~σ of q; the variant (noise on the unit direction) moves ∝ ‖q − z‖."""
    z = torch.zeros(64, 4, dtype=torch.float64)
    q = torch.full((64, 4), 500.0, dtype=torch.float64)
    authors = (published.diveq(z, q) - q).norm(dim=1)
    variant = (estimators.diveq(z, q) - q).norm(dim=1)
    assert authors.max() < 20 * published.DIVEQ_SIGMA
    assert variant.median() > 1.0


# --- NSVQ ------------------------------------------------------------------------------------------------------

def _authors_nsvq(z, cb, v):
    """NSVQ.forward: vq_error = (‖z − q‖/‖v‖ + eps) v added to z."""
    q, _ = _authors_nearest(z, cb)
    residual = (z - q).square().sum(dim=1, keepdim=True).sqrt()
    return z + (residual / v.square().sum(dim=1, keepdim=True).sqrt() + 1e-12) * v


def test_nsvq_matches_authors_forward_and_gradients():
    z, cb, w = _setup(seed=1)
    ref = _authors_nsvq(z, cb, _noise(7, z.shape))
    q, _ = quantize(z, cb)
    ours = published.nsvq(z, q, torch.Generator().manual_seed(7))
    assert torch.allclose(ours, ref, atol=TOL, rtol=0)
    for a, b in zip(_grads(ours, w, z, cb), _grads(ref, w, z, cb)):
        assert torch.allclose(a, b, atol=TOL, rtol=0)
    # vqlib's older NSVQ is the same formula without the 1e-12 guard (v normalised before the product)
    old = estimators.nsvq(z, q, torch.Generator().manual_seed(7))
    assert torch.allclose(old, ref, atol=1e-10, rtol=0)


# --- codebook replacement --------------------------------------------------------------------------------------

def _counts_then_step(rule, used_every_step, used_once, K=40, m=3, every=100, seed=0):
    cb = torch.randn(1, K, m, generator=torch.Generator().manual_seed(9))
    before = cb.clone()
    rep = published.UsageReplacement(1, K, rule, every=every, threshold=0.01, eps=1e-9 if rule == "diveq" else 1e-12, seed=seed)
    for step in range(1, every + 1):
        picks = list(used_every_step) + ([used_once] if step == 1 and used_once is not None else [])
        rep.observe(torch.tensor([picks * 5]))  # a code picked 5 times in a batch counts once (usage[idx] += 1)
        mask = rep.step(cb, step)
        if step < every:
            assert not mask.any()
    return before, cb, mask, rep


@pytest.mark.parametrize("rule", ["diveq", "nsvq"])
def test_replacement_moves_only_unpicked_codes_onto_used_ones(rule):
    before, after, mask, rep = _counts_then_step(rule, [0, 1], 2)
    kept = [0, 1, 2]  # code 2 was picked in 1 batch of 100: 1 % is not below the threshold
    assert not mask[0, kept].any() and mask[0, 3:].all()
    assert torch.equal(after[0, kept], before[0, kept])
    dist = torch.cdist(after[0, 3:].double(), before[0, kept].double())
    assert dist.min(1).values.max() < 1e-6  # each replacement is a used code plus a tiny perturbation
    assert rep.counts.sum() == 0 and rep.replaced.tolist() == [37]


def test_diveq_replacement_samples_in_proportion_to_use():
    """Code 0 in every batch, code 1 in 1 of 100: replacements copy code 0 about 100 times as often."""
    before, after, _, _ = _counts_then_step("diveq", [0], 1, K=3002)
    nearest = torch.cdist(after[0, 2:].double(), before[0, :2].double()).argmin(1)
    share = (nearest == 0).double().mean()
    assert 0.97 < share < 1.0


def test_nsvq_replacement_repeats_each_used_code_evenly():
    """2 used codes for 38 unused: each used code repeated ⌊38/2⌋ + 1 = 20 times, shuffled, the first 38 taken,
    so each is copied 18 to 20 times (never more than its 20 copies), over several shuffles."""
    for seed in range(5):
        before, after, _, _ = _counts_then_step("nsvq", [0, 1], None, seed=seed)
        nearest = torch.cdist(after[0, 2:].double(), before[0, :2].double()).argmin(1)
        copies = torch.bincount(nearest, minlength=2)
        assert int(copies.sum()) == 38 and int(copies.min()) >= 18 and int(copies.max()) <= 20


# --- SimVQ -----------------------------------------------------------------------------------------------------

def test_simvq_matches_authors_quantizer():
    """youngsheen/SimVQ: frozen embedding, Linear(m, m) with bias, legacy loss mean((sg q − z)²) + β mean((q − sg z)²), STE."""
    K, m, N = 6, 4, 9
    C, W, b = (t.double() for t in published.simvq_start(1, K, m, seed=2))
    z, _, w = _setup(N=N, K=K, m=m, seed=4)
    proj = torch.nn.Linear(m, m).double()
    with torch.no_grad():
        proj.weight.copy_(W[0])
        proj.bias.copy_(b[0, 0])
    quant_codebook = proj(C[0])
    q_ref, idx_ref = _authors_nearest(z, quant_codebook)
    loss_ref = torch.mean((q_ref.detach() - z) ** 2) + 0.25 * torch.mean((q_ref - z.detach()) ** 2)
    out_ref = z + (q_ref - z).detach()

    Wp, bp = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    codes = published.simvq_codebook(C, Wp, bp)[0]
    q, idx = quantize(z, codes)
    assert torch.equal(idx, idx_ref) and torch.allclose(q, q_ref, atol=TOL, rtol=0)
    loss = published.simvq_loss(z, q) / m  # ours sums over the vector; the authors' torch.mean also divides by m
    out = estimators.straight_through(z, q)
    assert abs(float((loss - loss_ref).detach())) < TOL and torch.allclose(out, out_ref, atol=TOL, rtol=0)
    total, total_ref = loss + (w * out).sum(), loss_ref + (w * out_ref).sum()
    ours = torch.autograd.grad(total, (z, Wp, bp))
    ref = torch.autograd.grad(total_ref, (z, proj.weight, proj.bias))
    assert torch.allclose(ours[0], ref[0], atol=TOL, rtol=0)
    assert torch.allclose(ours[1][0], ref[1], atol=TOL, rtol=0)
    assert torch.allclose(ours[2][0, 0], ref[2], atol=TOL, rtol=0)
    assert ref[2].abs().sum() > 0  # the bias learns: the code cloud can move off the origin


def test_simvq_start_is_the_authors():
    C, W, b = published.simvq_start(2, 4096, 8, seed=0)
    assert abs(float(C.std()) - 8**-0.5) < 0.01 * 8**-0.5 * 3
    assert abs(float(C.mean())) < 0.01
    for t in (W, b):
        assert float(t.abs().max()) <= 8**-0.5 and float(t.abs().max()) > 0.9 * 8**-0.5


# --- FSQ -------------------------------------------------------------------------------------------------------

def _authors_fsq(z, levels, eps=1e-3):
    """The paper's listing in numpy: bound, round, divide by the half width; codes_to_indexes."""
    L = np.asarray(levels)
    half_l = (L - 1) * (1 - eps) / 2
    offset = np.where(L % 2 == 1, 0.0, 0.5)
    shift = np.tan(offset / half_l)
    bounded = np.tanh(z + shift) * half_l - offset
    half_width = L // 2
    zhat = np.round(bounded) / half_width
    basis = np.concatenate(([1], np.cumprod(L[:-1])))
    index = ((zhat * half_width + half_width) * basis).sum(axis=-1).astype(np.int64)
    grad = (1 - np.tanh(z + shift) ** 2) * half_l / half_width  # d zhat / dz through round_ste
    return zhat, index, grad


@pytest.mark.parametrize("levels", [(4, 4, 4), (8, 6, 5), (2, 4, 4), (7, 5, 5, 5, 5)])
def test_fsq_matches_the_papers_listing(levels):
    gen = torch.Generator().manual_seed(0)
    z = (3 * torch.randn(500, len(levels), generator=gen, dtype=torch.float64)).requires_grad_(True)
    zhat, idx = published.fsq(z, levels)
    ref, ref_idx, ref_grad = _authors_fsq(z.detach().numpy(), levels)
    assert np.allclose(zhat.detach().numpy(), ref, atol=TOL, rtol=0)
    assert np.array_equal(idx.numpy(), ref_idx)
    (grad,) = torch.autograd.grad(zhat.sum(), z)
    assert np.allclose(grad.numpy(), ref_grad, atol=TOL, rtol=0)
    K = math.prod(levels)
    assert int(idx.min()) >= 0 and int(idx.max()) < K
    assert torch.allclose(published.fsq_codebook(levels)[idx].double(), zhat.detach(), atol=1e-6)


def test_fsq_levels_match_K_and_reach_every_code():
    assert published.fsq_levels(64) == (4, 4, 4) and published.fsq_levels(256) == (4, 4, 4, 4)
    assert published.fsq_levels(128) == (4, 4, 4, 2)
    z = torch.randn(200_000, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
    _, idx = published.fsq(z, (4, 4, 4, 4))
    assert len(torch.unique(idx)) == 256


@pytest.mark.parametrize("call, words", [
    (lambda: published.fsq_levels(48), "power of two"),
    (lambda: published.fsq_levels(2), "K must be an integer in [4"),
    (lambda: published.fsq(torch.zeros(3, 2), (4, 1)), "levels must be"),
    (lambda: published.fsq(torch.zeros(3, 2), (4, 4, 4)), "one channel per level"),
    (lambda: published.UsageReplacement(2, 8, "lru"), "rule must be one of"),
    (lambda: published.UsageReplacement(2, 8, every=0), "replace_every must be an integer"),
    (lambda: published.diveq(torch.zeros(2, 3), torch.zeros(2, 4)), "same shape"),
])
def test_bad_inputs_fail_with_one_clear_line(call, words):
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    assert words in str(err.value) and "\n" not in str(err.value)
