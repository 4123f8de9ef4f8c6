"""A small convolutional VQ-VAE with a spatial latent grid, many (method, seed) slices trained as one model.

A c×c crop (c = 16) goes through conv 1→h (4×4, stride 2) → ReLU → conv h→m (4×4, stride 2): a (c/4)×(c/4) grid
of m-dimensional latents, each quantized on its own; the decoder mirrors it with transposed convolutions. With
h = 16, m = 8 it has 4,633 weights. Every slice has its own weights; the slices are the groups of grouped
convolutions (``groups = L``), so slices never interact and each trains exactly as it would alone.

Methods (:data:`METHODS`): STE and the rotation trick with the VQ-VAE losses; STE + dead-code restart; STE + EMA
codebook; SimVQ, DiVeQ, NSVQ and FSQ as their authors ship them (vqlib.published); and vqlib's earlier DiVeQ
(noise on the unit direction, VQ losses) as ``diveq_variant``. FSQ has no codebook and its own latent width
(one channel per level), so FSQ slices form a model of their own (``levels`` given).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vqlib import estimators, metrics, published
from vqlib.checks import check_float, check_int
from vqlib.quantize import quantize

#: Per method: estimator, VQ loss ("vq": ‖sg z − q‖² + β‖z − sg q‖²; "simvq": the authors' legacy weights; "none"),
#: codebook start ("regime": the regime's initializer; else the authors'), and codebook upkeep.
METHODS: dict[str, dict] = {
    "ste": {"estimator": "ste", "loss": "vq", "start": "regime"},
    "rotation_trick": {"estimator": "rotation_trick", "loss": "vq", "start": "regime"},
    "restart": {"estimator": "ste", "loss": "vq", "start": "regime", "restart": True},
    "ema": {"estimator": "ste", "loss": "vq", "start": "regime", "ema": True},
    "simvq": {"estimator": "ste", "loss": "simvq", "start": "simvq"},
    "diveq": {"estimator": "diveq", "loss": "none", "start": "diveq", "replace": "diveq"},
    "diveq_variant": {"estimator": "diveq_variant", "loss": "vq", "start": "regime"},
    "nsvq": {"estimator": "nsvq", "loss": "none", "start": "nsvq", "replace": "nsvq"},
    "fsq": {"estimator": "fsq", "loss": "none", "start": "none"},
}
#: Labels as the chapter prints them.
LABELS = {"ste": "STE", "rotation_trick": "Rotation trick", "restart": "STE + restart", "ema": "STE + EMA", "simvq": "SimVQ (authors)",
          "diveq": "DiVeQ (authors)", "diveq_variant": "DiVeQ variant (noise on the unit direction, VQ losses)",
          "nsvq": "NSVQ (authors)", "fsq": "FSQ"}
#: Every convolution is 4×4 with stride 2 and padding 1 (each halves or doubles the side).
KERNEL = 4


def init_weights(n_seeds: int, hidden: int = 16, m: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """Starting weights per seed (leading axis S), uniform ±1/√fan-in (torch's default bound), drawn in float64."""
    for name, v in (("n_seeds", n_seeds), ("hidden", hidden), ("m", m)):
        check_int(name, v, 1)
    k2 = KERNEL * KERNEL
    shapes = {"enc1": ((hidden, 1, KERNEL, KERNEL), k2), "enc2": ((m, hidden, KERNEL, KERNEL), hidden * k2),
              "dec1": ((m, hidden, KERNEL, KERNEL), m * k2), "dec2": ((hidden, 1, KERNEL, KERNEL), hidden * k2)}
    bias = {"enc1": hidden, "enc2": m, "dec1": hidden, "dec2": 1}
    gen = torch.Generator().manual_seed(int(seed))
    out = {}
    for name, (shape, fan_in) in shapes.items():
        bound = 1.0 / math.sqrt(fan_in)
        out[name] = ((2 * torch.rand(n_seeds, *shape, generator=gen, dtype=torch.float64) - 1) * bound).float()
        out[name + "_b"] = ((2 * torch.rand(n_seeds, bias[name], generator=gen, dtype=torch.float64) - 1) * bound).float()
    return out


def n_weights(hidden: int = 16, m: int = 8) -> int:
    """Weights and biases of one slice's network (codebook excluded)."""
    return sum(t[0].numel() for t in init_weights(1, hidden, m).values())


def _estimator(name: str, seed: int):
    if name == "diveq":
        return published.Seeded(published.diveq, seed)
    if name == "nsvq":
        return published.Seeded(published.nsvq, seed)
    if name == "diveq_variant":
        return estimators.DirectionalNoise(seed)
    return estimators.ESTIMATORS[name]


class ConvVQ(nn.Module):
    """x (L, B, c, c) → z (L, B·g², m) → q → q̃ → x̂ (L, B, c, c), g = c/4; one method per slice.

    `codebook` (L, K, m): each slice's start (ignored by SimVQ slices, which use C Wᵀ + b from `simvq`
    = (C, W, b), each with leading axis L). `levels`: an FSQ model (every slice FSQ, m = len(levels)).
    """

    def __init__(self, weights: dict[str, torch.Tensor], codebook: torch.Tensor, methods: list[str], beta: float = 0.25,
                 estimator_seed: int = 0, simvq: tuple[torch.Tensor, ...] | None = None, levels: tuple[int, ...] | None = None) -> None:
        super().__init__()
        L, K, m = codebook.shape
        if len(methods) != L:
            raise ValueError(f"methods must name one method per slice ({L}), got {len(methods)}")
        bad = sorted(set(methods) - set(METHODS))
        if bad:
            raise ValueError(f"methods must be among {sorted(METHODS)}, got {bad}")
        if (levels is not None) != (set(methods) == {"fsq"}) or ("fsq" in methods and levels is None):
            raise ValueError("an FSQ model has every slice 'fsq' and needs levels; a VQ model has no 'fsq' slice")
        self.methods, self.levels, self.beta = list(methods), levels, check_float("beta", beta, 0.0)
        for key, value in weights.items():
            if value.shape[0] != L:
                raise ValueError(f"weights[{key!r}] must have {L} slices on its leading axis, got {tuple(value.shape)}")
            setattr(self, key, nn.Parameter(value.detach().clone().float()))
        if self.enc2.shape[1] != m:
            raise ValueError(f"the encoder's output channels ({self.enc2.shape[1]}) must equal the codes' size m = {m}")
        self.codebook = nn.Parameter(codebook.detach().clone().float(), requires_grad=levels is None)
        spec = [METHODS[n] for n in methods]
        self.register_buffer("w_codebook", torch.tensor([{"vq": 1.0, "simvq": published.SIMVQ_BETA}.get(s["loss"], 0.0) for s in spec]))
        self.register_buffer("w_commit", torch.tensor([{"vq": beta, "simvq": 1.0}.get(s["loss"], 0.0) for s in spec]))
        self.register_buffer("is_simvq", torch.tensor([n == "simvq" for n in methods]))
        C, W, b = simvq if simvq is not None else (codebook, torch.eye(m).expand(L, m, m), torch.zeros(L, 1, m))
        self.register_buffer("simvq_c", C.detach().clone().float())
        self.simvq_w = nn.Parameter(W.detach().clone().float())
        self.simvq_b = nn.Parameter(b.detach().clone().float())
        names = [s["estimator"] for s in spec]
        self.groups = {n: torch.tensor([i for i, e in enumerate(names) if e == n]) for n in dict.fromkeys(names)}
        self.inverse = torch.argsort(torch.cat(list(self.groups.values())))
        self.fns = {n: _estimator(n, estimator_seed) for n in self.groups if n != "fsq"}

    @property
    def K(self) -> int:
        return self.codebook.shape[1]

    def network_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n.startswith(("enc", "dec"))]

    def codebook_parameters(self) -> list[nn.Parameter]:
        """The codebook (gradient-learned slices) and SimVQ's linear layer; none for FSQ."""
        return [] if self.levels is not None else [self.codebook, self.simvq_w, self.simvq_b]

    def codes(self) -> torch.Tensor:
        """Each slice's codebook (L, K, m): its own, or SimVQ's C Wᵀ + b."""
        if not bool(self.is_simvq.any()):
            return self.codebook
        return torch.where(self.is_simvq.view(-1, 1, 1), published.simvq_codebook(self.simvq_c, self.simvq_w, self.simvq_b), self.codebook)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z (L, B·g², m), grid positions row by row within each crop: two stride-2 convolutions, slices as groups."""
        L, B = x.shape[:2]
        h = F.relu(F.conv2d(x.transpose(0, 1), self.enc1.flatten(0, 1), self.enc1_b.flatten(), stride=2, padding=1, groups=L))
        z = F.conv2d(h, self.enc2.flatten(0, 1), self.enc2_b.flatten(), stride=2, padding=1, groups=L)
        g, m = z.shape[-1], self.enc2.shape[1]
        return z.view(B, L, m, g, g).permute(1, 0, 3, 4, 2).reshape(L, B * g * g, m)

    def decode(self, q: torch.Tensor, batch: int) -> torch.Tensor:
        """x̂ (L, B, c, c) from q (L, B·g², m): two stride-2 transposed convolutions, slices as groups."""
        L, N, m = q.shape
        g = int(round(math.sqrt(N // batch)))
        y = q.view(L, batch, g, g, m).permute(1, 0, 4, 2, 3).reshape(batch, L * m, g, g)
        h = F.relu(F.conv_transpose2d(y, self.dec1.flatten(0, 1), self.dec1_b.flatten(), stride=2, padding=1, groups=L))
        out = F.conv_transpose2d(h, self.dec2.flatten(0, 1), self.dec2_b.flatten(), stride=2, padding=1, groups=L)
        return out.transpose(0, 1).reshape(L, batch, *out.shape[-2:])

    def estimate(self, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        if len(self.groups) == 1:
            return self.fns[next(iter(self.groups))](z, q)
        parts = [self.fns[n](z[i.to(z.device)], q[i.to(z.device)]) for n, i in self.groups.items()]
        return torch.cat(parts)[self.inverse.to(z.device)]

    def forward(self, x: torch.Tensor, hard: bool = False) -> dict[str, torch.Tensor]:
        """hard=True decodes q itself (evaluation); otherwise each slice's q̃."""
        z = self.encode(x)
        if self.levels is not None:
            q, idx = published.fsq(z, self.levels)
            return {"z": z, "q": q, "idx": idx, "x_hat": self.decode(q, x.shape[1])}
        q, idx = quantize(z, self.codes())
        return {"z": z, "q": q, "idx": idx, "x_hat": self.decode(q if hard else self.estimate(z, q), x.shape[1])}

    def losses(self, x: torch.Tensor, out: dict | None = None) -> dict[str, torch.Tensor]:
        """Per-slice losses (L,), per crop: recon Σ_pixels (x − x̂)², VQ terms Σ over the crop's grid, by method."""
        out = self.forward(x) if out is None else out
        L, B = x.shape[:2]
        recon = ((x - out["x_hat"]) ** 2).sum((-1, -2)).mean(-1)
        per_crop = out["z"].shape[1] / B
        cb = ((out["z"].detach() - out["q"]) ** 2).sum(-1).mean(-1) * per_crop
        commit = ((out["z"] - out["q"].detach()) ** 2).sum(-1).mean(-1) * per_crop
        total = recon + self.w_codebook * cb + self.w_commit * commit
        return {"total": total, "recon": recon, "codebook": cb, "commitment": commit}


class ConvObjective:
    """ConvVQ as a vqlib.trainer model (:class:`vqlib.trainer.Trainable`); `replacement` counts each step's codes."""

    def __init__(self, module: ConvVQ, replacement: published.UsageReplacement | None = None) -> None:
        self.module, self.replacement = module, replacement

    @property
    def codebook(self) -> torch.Tensor:
        return self.module.codebook

    def param_groups(self, codebook: bool = True) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        return self.module.network_parameters(), self.module.codebook_parameters() if codebook else []

    def train_losses(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.module(x)
        if self.replacement is not None:
            self.replacement.observe(out["idx"])
        return self.module.losses(x, out)["total"], out

    @torch.no_grad()
    def set_codes(self, rows: torch.Tensor, values: torch.Tensor) -> None:
        self.module.codebook[rows.to(self.module.codebook.device)] = values.to(self.module.codebook.dtype)


@torch.no_grad()
def evaluate(model: ConvVQ, x_eval: torch.Tensor, chunk: int = 512) -> dict[str, torch.Tensor]:
    """Held-out metrics per slice with hard q on tiles x_eval (N, c, c): PSNR, code use, and the rate both ways.

    bpp_fixed = log2 K per code / pixels per code; bpp_entropy = the entropy of the code indices over every grid
    position of the held-out tiles, per pixel (what an ideal entropy coder of independent indices would spend).
    """
    L = model.codebook.shape[0]
    sq, idx = [], []
    for i in range(0, x_eval.shape[0], chunk):
        x = x_eval[i : i + chunk].unsqueeze(0).expand(L, -1, -1, -1).contiguous()
        out = model(x, hard=True)
        sq.append(((x - out["x_hat"]) ** 2).double().flatten(2).sum(-1))
        idx.append(out["idx"])
    sq, idx = torch.cat(sq, 1), torch.cat(idx, 1).cpu()
    K = math.prod(model.levels) if model.levels is not None else model.K
    pixels_per_code = x_eval.shape[-1] * x_eval.shape[-2] * x_eval.shape[0] / idx.shape[1]
    counts = metrics.code_counts(idx, K)
    mse = sq.mean(-1).cpu() / (x_eval.shape[-1] * x_eval.shape[-2])
    entropy = metrics.entropy_bits(counts)
    return {"recon_mse": mse, "psnr_db": metrics.psnr_db(mse), "dead_codes": metrics.dead_codes(counts), "usage": metrics.usage(counts),
            "entropy_bits": entropy, "bpp_fixed": torch.full((L,), math.log2(K) / pixels_per_code, dtype=torch.float64),
            "bpp_entropy": entropy.double() / pixels_per_code}
