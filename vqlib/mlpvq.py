"""A small nonlinear VQ-VAE (MLP encoder D→h→m, decoder m→h→D) with a leading slice axis: many runs as one model.

Every weight carries a leading slice axis L and every layer is one batched matmul (torch.baddbmm), as in
vqlib.models.LinearVQ and vqlib.grid: slices never interact (the loss is a sum over slices, Adam is
elementwise), so each (method, seed) slice trains exactly as it would alone. A slice may use the SimVQ
codebook (Zhu et al. 2025): codes C·W with C a frozen random codebook and W one learned m×m map.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vqlib import estimators
from vqlib.checks import check_choice, check_int
from vqlib.quantize import codebook_loss, commitment_loss, quantize

#: Nonlinearities the model may use.
ACTIVATIONS = {"gelu": torch.nn.functional.gelu, "relu": torch.relu}

#: Layers as (name, fan-in, fan-out) of the sizes D, h, m: encoder D→h→m, decoder m→h→D.
LAYERS = (("enc1", "D", "h"), ("enc2", "h", "m"), ("dec1", "m", "h"), ("dec2", "h", "D"))

#: Estimators a slice may use (value q, or a training-time substitute for NSVQ and DiVeQ).
ESTIMATORS = ("ste", "projection", "rotation_trick", "nsvq", "diveq")


def init_weights(n_seeds: int, D: int, h: int, m: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Starting weights per seed, (S, fan-in, fan-out) and biases (S, 1, fan-out), uniform ±1/√fan-in (torch's Linear default)."""
    for name, v in (("n_seeds", n_seeds), ("D", D), ("h", h), ("m", m)):
        check_int(name, v, 1)
    sizes = {"D": D, "h": h, "m": m}
    gen = torch.Generator().manual_seed(int(seed))
    out = {}
    for name, a, b in LAYERS:
        bound = 1.0 / math.sqrt(sizes[a])
        out[name] = (2 * torch.rand(n_seeds, sizes[a], sizes[b], generator=gen) - 1) * bound
        out[name + "_b"] = (2 * torch.rand(n_seeds, 1, sizes[b], generator=gen) - 1) * bound
    return out


def _estimator(name: str, seed: int, diveq_sigma: float):
    if name == "nsvq":
        return estimators.NoiseSubstitution(seed)
    if name == "diveq":
        return estimators.DirectionalNoise(seed, diveq_sigma)
    return estimators.ESTIMATORS[name]


class MLPVQ(nn.Module):
    """x → z = enc(x) → q = nearest code → q̃ = estimator(z, q) → x̂ = dec(q̃), for L slices at once.

    `weights`: init_weights' tensors with L on the leading axis; `codebook` (L, K, m); `estimator_names` one
    per slice; `simvq` (L,) bool: those slices use the codebook C·W with C = `basis` (L, K, m), frozen (default:
    the starting codebook), and W = I at the start.
    """

    def __init__(
        self,
        weights: dict[str, torch.Tensor],
        codebook: torch.Tensor,
        estimator_names: list[str],
        simvq: torch.Tensor | None = None,
        activation: str = "gelu",
        estimator_seed: int = 0,
        diveq_sigma: float = estimators.DIVEQ_SIGMA,
        basis: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        L, K, m = codebook.shape
        self.act = ACTIVATIONS[check_choice("activation", activation, list(ACTIVATIONS))]
        for name, _, _ in LAYERS:
            for key in (name, name + "_b"):
                if weights[key].shape[0] != L:
                    raise ValueError(f"weights[{key!r}] must have {L} slices on its leading axis, got {tuple(weights[key].shape)}")
                setattr(self, key, nn.Parameter(weights[key].detach().clone().float()))
        if self.enc2.shape[-1] != m:
            raise ValueError(f"the encoder's output size ({self.enc2.shape[-1]}) must equal the codes' size m = {m}")
        if len(estimator_names) != L:
            raise ValueError(f"estimator_names must name one estimator per slice ({L}), got {len(estimator_names)}")
        for n in estimator_names:
            check_choice("estimator", n, list(ESTIMATORS))
        self.estimator_names = list(estimator_names)
        self.groups = {n: torch.tensor([i for i, e in enumerate(estimator_names) if e == n]) for n in dict.fromkeys(estimator_names)}
        self.inverse = torch.argsort(torch.cat(list(self.groups.values())))
        self.fns = {n: _estimator(n, estimator_seed, diveq_sigma) for n in self.groups}
        simvq = torch.zeros(L, dtype=torch.bool) if simvq is None else simvq.bool()
        if simvq.shape != (L,):
            raise ValueError(f"simvq must be a bool tensor of shape ({L},), got {tuple(simvq.shape)}")
        self.register_buffer("simvq", simvq)
        self.codebook = nn.Parameter(codebook.detach().clone().float())
        basis = codebook if basis is None else basis
        if basis.shape != codebook.shape:
            raise ValueError(f"basis must have the codebook's shape {tuple(codebook.shape)}, got {tuple(basis.shape)}")
        self.register_buffer("basis", basis.detach().clone().float())  # SimVQ's frozen C
        self.simvq_w = nn.Parameter(torch.eye(m).expand(L, m, m).clone())  # SimVQ's learned W

    @property
    def K(self) -> int:
        return self.codebook.shape[1]

    def network_parameters(self) -> list[nn.Parameter]:
        """Encoder and decoder weights and biases (the regimes' `lr` group)."""
        return [getattr(self, key) for name, _, _ in LAYERS for key in (name, name + "_b")]

    def weight(self, key: str, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The parameter or buffer `key`, or its slices `rows` (gathered inside the graph: the others get zero gradient)."""
        value = getattr(self, key)
        return value if rows is None else value.index_select(0, rows.to(value.device))

    def codes(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The codebook each slice (of `rows`, default all) quantizes with (·, K, m): its own codes, or C·W for SimVQ slices."""
        if not bool(self.simvq.any()):
            return self.weight("codebook", rows)
        simvq = self.weight("simvq", rows).view(-1, 1, 1)
        return torch.where(simvq, self.weight("basis", rows) @ self.weight("simvq_w", rows), self.weight("codebook", rows))

    def encode(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """z = W₂ act(W₁ x + b₁) + b₂ per slice (of `rows`, default all): x (L, N, D) → (L, N, m)."""
        w = {k: self.weight(k, rows) for k in ("enc1", "enc1_b", "enc2", "enc2_b")}
        return torch.baddbmm(w["enc2_b"], self.act(torch.baddbmm(w["enc1_b"], x, w["enc1"])), w["enc2"])

    def decode(self, q: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """x̂ = V₂ act(V₁ q + c₁) + c₂ per slice (of `rows`, default all): (L, N, m) → (L, N, D)."""
        w = {k: self.weight(k, rows) for k in ("dec1", "dec1_b", "dec2", "dec2_b")}
        return torch.baddbmm(w["dec2_b"], self.act(torch.baddbmm(w["dec1_b"], q, w["dec1"])), w["dec2"])

    def estimate(self, z: torch.Tensor, q: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Each slice's estimator applied to its own slice of z and q (gathered by estimator, put back in place)."""
        if rows is not None:
            return estimators.on_rows(self.fns, self.estimator_names, z, q, rows)
        if len(self.groups) == 1:
            return self.fns[self.estimator_names[0]](z, q)
        parts = [self.fns[n](z[idx.to(z.device)], q[idx.to(z.device)]) for n, idx in self.groups.items()]
        return torch.cat(parts)[self.inverse.to(z.device)]

    def forward(self, x: torch.Tensor, hard: bool = False, rows: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """hard=True decodes q itself (evaluation); otherwise the estimator's q̃ (NSVQ's and DiVeQ's differ from q).

        rows: only these slices (sorted), x holding their minibatches (a trainer's still-active slices).
        """
        z = self.encode(x, rows)
        q, idx = quantize(z, self.codes(rows))
        return {"z": z, "q": q, "idx": idx, "x_hat": self.decode(q if hard else self.estimate(z, q, rows), rows)}

    def losses(self, x: torch.Tensor, beta: float | torch.Tensor, out: dict | None = None) -> dict[str, torch.Tensor]:
        """Per-slice losses (L,): recon E‖x − x̂‖², codebook E‖sg(z) − q‖², commitment βE‖z − sg(q)‖² (as LinearVQ)."""
        out = self.forward(x) if out is None else out
        recon = ((x - out["x_hat"]) ** 2).sum(-1).mean(-1)
        cb = codebook_loss(out["z"], out["q"])
        commit = commitment_loss(out["z"], out["q"], beta)
        return {"total": recon + cb + commit, "recon": recon, "codebook": cb, "commitment": commit}
