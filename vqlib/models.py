"""A linear VQ autoencoder with a leading seed dimension: S independent models trained as one."""

from __future__ import annotations

import torch
from torch import nn

from vqlib import metrics
from vqlib.estimators import get_estimator, mixed
from vqlib.quantize import codebook_loss, commitment_loss, quantize


class LinearVQ(nn.Module):
    """x → z = E x → q = nearest code → q̃ = estimator(z, q) → x̂ = W q̃, for S seeds at once.

    encoder (S, m, D), codebook (S, K, m), decoder (S, D, m). A fixed encoder (e.g. PCA) is a buffer.
    """

    def __init__(
        self,
        encoder: torch.Tensor,
        codebook: torch.Tensor,
        decoder: torch.Tensor,
        estimator: str | list[str] = "ste",
        learn_encoder: bool = True,
        learn_decoder: bool = True,
        estimator_seed: int = 0,
    ) -> None:
        super().__init__()
        S, m, D = encoder.shape
        if codebook.shape[0] != S or codebook.shape[2] != m:
            raise ValueError(f"codebook must have shape (S={S}, K, m={m}), got {tuple(codebook.shape)}")
        if decoder.shape != (S, D, m):
            raise ValueError(f"decoder must have shape (S={S}, D={D}, m={m}), got {tuple(decoder.shape)}")
        if isinstance(estimator, (list, tuple)):  # one estimator per seed slice (vqlib.estimators.mixed)
            if len(estimator) != S:
                raise ValueError(f"estimator list must name one estimator per slice ({S}), got {len(estimator)}")
            self.estimator_name = "+".join(dict.fromkeys(estimator))
            self.estimator = mixed(list(estimator), estimator_seed)
        else:
            self.estimator_name = estimator
            self.estimator = get_estimator(estimator, estimator_seed)
        self.codebook = nn.Parameter(codebook.clone().float())
        self._set("encoder", encoder, learn_encoder)
        self._set("decoder", decoder, learn_decoder)

    def _set(self, name: str, value: torch.Tensor, learn: bool) -> None:
        if learn:
            setattr(self, name, nn.Parameter(value.clone().float()))
        else:
            self.register_buffer(name, value.clone().float())

    @property
    def K(self) -> int:
        return self.codebook.shape[1]

    def forward(self, x: torch.Tensor, hard: bool = False) -> dict[str, torch.Tensor]:
        """hard=True decodes q itself (evaluation); otherwise the estimator's q̃ (the same value except NSVQ's)."""
        z = x @ self.encoder.transpose(-1, -2)
        q, idx = quantize(z, self.codebook)
        x_hat = (q if hard else self.estimator(z, q)) @ self.decoder.transpose(-1, -2)
        return {"z": z, "q": q, "idx": idx, "x_hat": x_hat}

    def losses(self, x: torch.Tensor, beta: float | torch.Tensor, out: dict | None = None) -> dict[str, torch.Tensor]:
        """Per-seed losses (S,): recon E‖x − x̂‖², codebook E‖sg(z) − q‖², commitment βE‖z − sg(q)‖².

        β may be one number or one per seed (S,); `out` reuses a forward pass already made on x.
        """
        out = self.forward(x) if out is None else out
        recon = ((x - out["x_hat"]) ** 2).sum(-1).mean(-1)
        cb = codebook_loss(out["z"], out["q"])
        commit = commitment_loss(out["z"], out["q"], beta)
        return {"total": recon + cb + commit, "recon": recon, "codebook": cb, "commitment": commit}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, A: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Metrics on a held-out set x (S, N, D): per-seed tensors (S,)."""
        out = self.forward(x, hard=True)
        counts = metrics.code_counts(out["idx"], self.K)
        result = {
            "recon_mse": metrics.recon_mse(x, out["x_hat"]),
            "sq_error": metrics.sq_error(x, out["x_hat"]),
            "latent_distortion": ((out["z"] - out["q"]) ** 2).double().sum(-1).mean(-1),
            "dead_codes": metrics.dead_codes(counts),
            "usage": metrics.usage(counts),
            "entropy_bits": metrics.entropy_bits(counts),
            "perplexity": metrics.perplexity(counts),
        }
        if A is not None:
            result["subspace_distortion"] = metrics.subspace_distortion(x, out["x_hat"], A)
        return result
