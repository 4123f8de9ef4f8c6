"""EMA codebook updates: the fixed point is the cluster means; the first codebook is the given one; smoothing."""

import pytest
import torch

from vqlib.ema import ema_init, ema_update


def test_fixed_point_is_cluster_means():
    gen = torch.Generator().manual_seed(0)
    cb = torch.randn(2, 4, 3, generator=gen)
    state = ema_init(cb)
    z = torch.randn(2, 100, 3, generator=gen)
    idx = torch.randint(4, (2, 100), generator=gen)
    for _ in range(3000):
        new = ema_update(state, z, idx, decay=0.99)
    means = torch.stack([torch.stack([z[s][idx[s] == k].mean(0) for k in range(4)]) for s in range(2)])
    # Laplace smoothing moves counts by O(eps): the codes sit at the cluster means to ~1e-6
    assert torch.allclose(new, means, atol=1e-5)


def test_one_step_by_hand():
    cb = torch.tensor([[[0.0], [10.0]]])
    state = ema_init(cb)
    z = torch.tensor([[[2.0], [4.0]]])
    idx = torch.tensor([[0, 0]])
    new = ema_update(state, z, idx, decay=0.5, eps=1e-12)
    # counts: 0.5*1 + 0.5*2 = 1.5 and 0.5; sums: 0.5*0 + 0.5*6 = 3 and 5 -> codes 2 and 10 (smoothing ~0)
    assert torch.allclose(new, torch.tensor([[[2.0], [10.0]]]), atol=1e-6)


def test_unused_code_decays_but_stays_finite():
    cb = torch.tensor([[[0.0], [10.0]]])
    state = ema_init(cb)
    z, idx = torch.tensor([[[1.0]]]), torch.tensor([[0]])
    for _ in range(5000):
        new = ema_update(state, z, idx, decay=0.9)
    assert torch.isfinite(new).all()


@pytest.mark.parametrize("kw", [{"decay": 1.5}, {"decay": -0.1}, {"eps": 0.0}])
def test_bad_arguments_name_the_parameter(kw):
    state = ema_init(torch.zeros(1, 2, 1))
    with pytest.raises((ValueError, TypeError), match=next(iter(kw))):
        ema_update(state, torch.zeros(1, 1, 1), torch.zeros(1, 1, dtype=torch.long), **kw)
