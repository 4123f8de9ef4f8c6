"""Dead-code restart: the practitioner's baseline against dead codes, batched over slices (seeds × settings).

A code that no training-batch vector has picked for `window` consecutive steps is re-seeded with an
encoded vector z of the current batch, drawn at random; its Adam moments are reset so the new code
starts fresh. (Implementations differ in the trigger: vector-quantize-pytorch uses an EMA count
threshold; ours is the plain "unused for a window of steps" rule, stated in the chapters.)
"""

from __future__ import annotations

import torch

from vqlib.checks import check_int


class DeadCodeRestart:
    """Tracks, per slice and code, the last step a batch vector picked the code; re-seeds the stale ones."""

    def __init__(self, n_slices: int, K: int, window: int, active: torch.Tensor | None = None, seed: int = 0) -> None:
        check_int("n_slices", n_slices, 1)
        check_int("K", K, 1)
        self.window = check_int("restart_window", window, 1)
        if active is None:
            active = torch.ones(n_slices, dtype=torch.bool)
        if active.shape != (n_slices,) or active.dtype != torch.bool:
            raise ValueError(f"active must be a bool tensor of shape ({n_slices},), got {active.dtype} {tuple(active.shape)}")
        self.active = active
        self.last_used = torch.zeros(n_slices, K, dtype=torch.long)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.restarts = torch.zeros(n_slices, dtype=torch.long)  # codes re-seeded so far, per slice

    @torch.no_grad()
    def step(self, codebook: torch.Tensor, z: torch.Tensor, idx: torch.Tensor, step: int, optimizer: torch.optim.Optimizer | None = None,
             rows: torch.Tensor | None = None) -> torch.Tensor:
        """After the optimizer step `step`: note the codes idx (L, B) used, re-seed stale codes from z (L, B, m).

        `codebook` is the codebook parameter itself (the optimizer's state is looked up by it). Returns the
        mask (L, K) of codes re-seeded now. Only slices marked active are touched. rows (sorted): z and idx hold
        only these slices (a trainer's unstopped ones); the others are neither noted nor re-seeded, and the draw
        is the same whichever slices are left out (one pick per slice and code of all L).
        """
        L, K, m = codebook.shape
        device = codebook.device
        rows = torch.arange(L) if rows is None else rows.cpu()
        used = torch.zeros(L, K, dtype=torch.bool)
        used[rows] = torch.zeros(len(rows), K, dtype=torch.bool).scatter_(1, idx.cpu(), True)
        self.last_used[used] = step
        live = torch.zeros(L, dtype=torch.bool).index_fill_(0, rows, True) & self.active
        stale = (step - self.last_used >= self.window) & live.unsqueeze(-1)
        if not stale.any():
            return stale
        pick = torch.randint(z.shape[1], (L, K), generator=self.generator)
        fresh = torch.zeros(L, K, m, dtype=codebook.dtype)
        fresh[rows] = torch.gather(z.detach().cpu().to(codebook.dtype), 1, pick[rows].unsqueeze(-1).expand(-1, -1, m))
        fresh = fresh.to(device)
        mask = stale.to(device).unsqueeze(-1)
        codebook.copy_(torch.where(mask, fresh, codebook))
        if optimizer is not None:
            for key, moment in optimizer.state.get(codebook, {}).items():
                if key != "step" and torch.is_tensor(moment) and moment.shape == codebook.shape:
                    moment.masked_fill_(mask, 0.0)
        self.last_used[stale] = step
        self.restarts += stale.sum(-1)
        return stale
