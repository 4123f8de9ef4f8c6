"""Many configurations trained as one batched model: each (setting, method, seed) is a slice of the leading axis.

Slices never interact: the loss is a sum over slices, the estimator acts slice by slice
(:func:`vqlib.estimators.mixed`), Adam is elementwise, and the dead-code restart is per slice. All slices of
one seed draw the same minibatch indices, so methods and settings are compared on paired runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from vqlib import metrics
from vqlib import regimes as regimes_mod
from vqlib.checks import check_float, check_int
from vqlib.estimators import ESTIMATORS
from vqlib.estimators import LABELS as ESTIMATOR_LABELS
from vqlib.init import lloyd
from vqlib.models import LinearVQ
from vqlib.quantize import assign, codebook_loss, commitment_loss, lookup, quantize, sq_distances
from vqlib.restart import DeadCodeRestart
from vqlib.trainer import EMACodebook, Minibatches, VQObjective, fit, stream

#: A method is a gradient estimator, or "restart": STE with dead-code restart (vqlib.restart).
METHODS: dict[str, tuple[str, bool]] = {**{name: (name, False) for name in ESTIMATORS}, "restart": ("ste", True)}

LABELS: dict[str, str] = {**ESTIMATOR_LABELS, "restart": "STE + dead-code restart"}

#: Slice columns every grid needs: which data set (row of x_train), which seed (batch stream), method, β.
SLICE_COLUMNS = ("data", "seed", "method", "beta")


@dataclass
class GridRun:
    """A finished grid: per-slice evaluation history, the trained model, and what it cost."""

    slices: pd.DataFrame  # one row per slice (its settings)
    history: pd.DataFrame  # one row per (evaluation step, slice): slice columns, step, metrics
    model: LinearVQ
    restarts: torch.Tensor  # codes re-seeded per slice (0 where the method has no restart)
    seconds_per_step: float  # wall time of one training step of the whole grid (evaluation excluded)
    layout: "RowLayout"  # how slices share data rows
    steps_run: int = 0  # optimizer steps taken (below the budget where a converge rule stopped early)
    stop_step: torch.Tensor | None = None  # per slice: the step it stopped at (with a stop rule), else None
    met_rule: torch.Tensor | None = None  # per slice: whether the stop rule stopped it before the cap
    slice_steps: int = 0  # slice-steps computed (stopped slices drop out of the steps after their stop)

    @property
    def final(self) -> pd.DataFrame:
        """The history at the last step; with a stop rule, each slice's stop step and whether its rule met before the cap."""
        final = self.history[self.history.step == self.history.step.max()].reset_index(drop=True)
        if self.stop_step is None or len(final) != len(self.stop_step):
            return final
        return final.assign(stop_step=self.stop_step.numpy(), met_rule=self.met_rule.numpy())


def check_slices(slices: pd.DataFrame, n_data: int) -> pd.DataFrame:
    """Slice table with the needed columns, known methods, data rows in range and β ≥ 0."""
    missing = [c for c in SLICE_COLUMNS if c not in slices.columns]
    if missing:
        raise ValueError(f"slices needs columns {list(SLICE_COLUMNS)}; missing {missing}")
    unknown = sorted(set(slices.method) - set(METHODS))
    if unknown:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {unknown}")
    if slices.data.min() < 0 or slices.data.max() >= n_data:
        raise ValueError(f"slices.data must index the {n_data} data sets (0..{n_data - 1})")
    for b in slices.beta:
        check_float("beta", float(b), 0.0)
    return slices.reset_index(drop=True)


class RowLayout:
    """Slices grouped by data row: all slices of one row see the same minibatch, so one matmul serves them.

    x (B, D) times the side-by-side maps of the row's n slices, (D, n·k), is one wide matmul instead of n
    thin ones (k = m or 2m): on a CPU it is several times faster, and the batch is gathered once per row.
    Rows may hold different numbers of slices (a trainer's still-active ones): rows of equal count share one
    batched matmul. `width`: the count of the layout this one is a subset of; every group is padded with zero maps
    up to it, so each matmul has the full layout's shape and every slice's projection rounds as there on any
    machine (a CPU GEMM picks its kernel, hence its rounding, by the matrix shape).
    """

    def __init__(self, data: torch.Tensor, seeds: torch.Tensor, width: int | None = None) -> None:
        order = torch.argsort(data, stable=True)
        rows, counts = torch.unique_consecutive(data[order], return_counts=True)
        self.order, self.inverse = order, torch.argsort(order)
        self.rows, self.n = rows, int(counts.max())
        self.width = self.n if width is None else width
        self.row_of_slice = torch.searchsorted(rows, data)  # position in `rows` of each slice's data row
        starts = torch.cumsum(counts, 0) - counts
        self.row_seed = seeds[order][starts]
        if not torch.all(seeds == self.row_seed[self.row_of_slice]):
            raise ValueError("all slices of a data row must share its seed (its minibatch stream)")
        self.data, self.seeds = data, seeds
        # Per count c: the rows holding c slices and those slices (R_c, c), in data order.
        self.groups = [(torch.nonzero(counts == c).view(-1), order[(starts[counts == c].unsqueeze(-1) + torch.arange(c)).view(-1)].view(-1, c))
                       for c in counts.unique().tolist()]
        self.group_inverse = torch.argsort(torch.cat([sl.reshape(-1) for _, sl in self.groups]))
        self.last: tuple[torch.Tensor, RowLayout, torch.Tensor] | None = None

    def subset(self, rows: torch.Tensor) -> tuple["RowLayout", torch.Tensor]:
        """The layout of the slices `rows` (sorted) and the positions in self.rows of its data rows (kept for the last call)."""
        if self.last is None or not torch.equal(self.last[0], rows):
            sub = RowLayout(self.data[rows], self.seeds[rows], self.width)
            self.last = (rows.clone(), sub, torch.searchsorted(self.rows, sub.rows))
        return self.last[1], self.last[2]

    def project(self, x: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """x (R, N, D) per row, maps (L, D, k) per slice -> x_row(l) @ maps[l], shape (L, N, k)."""
        L, D, k = maps.shape
        R, N = x.shape[:2]
        pad = self.width
        if len(self.groups) == 1 and self.n == pad:  # a full grid: one matmul, no padding
            side = maps[self.order].view(R, self.n, D, k).permute(0, 2, 1, 3).reshape(R, D, self.n * k)
            y = torch.bmm(x, side).view(R, N, self.n, k).permute(0, 2, 1, 3).reshape(L, N, k)
            return y[self.inverse]
        padded = torch.cat([maps, maps.new_zeros(1, D, k)])
        parts = []
        for at, slots in self.groups:
            r, c = slots.shape
            w = max(c, pad)
            index = torch.cat([slots, torch.full((r, w - c), L)], 1).view(-1).to(maps.device)
            side = padded[index].view(r, w, D, k).permute(0, 2, 1, 3).reshape(r, D, w * k)
            y = torch.bmm(x.index_select(0, at.to(x.device)), side).view(r, N, w, k)[:, :, :c]
            parts.append(y.permute(0, 2, 1, 3).reshape(r * c, N, k))
        return torch.cat(parts)[self.group_inverse.to(x.device)]


def recon_error(x_sq: torch.Tensor, wx: torch.Tensor, q: torch.Tensor, decoder: torch.Tensor) -> torch.Tensor:
    """‖x − W q‖² per vector from m-dimensional pieces: ‖x‖² − 2 (Wᵀx)·q + qᵀ(WᵀW)q (no D-dimensional residual)."""
    gram = decoder.transpose(-1, -2) @ decoder
    return x_sq - 2 * (wx * q).sum(-1) + ((q @ gram) * q).sum(-1)


def codebook_of(model: LinearVQ) -> torch.Tensor:
    """The codes the nearest-code search uses: the codebook itself, μ + s ⊙ c (affine form), or the unit codes (cosine form)."""
    cb = model.codebook
    if getattr(model, "affine_mean", None) is not None:
        cb = model.affine_mean + model.affine_scale * cb
    if getattr(model, "cosine", False):
        cb = torch.nn.functional.normalize(cb, dim=-1)
    return cb


def latent_of(model: LinearVQ, z: torch.Tensor) -> torch.Tensor:
    """The latent the nearest-code search uses: z, or z/‖z‖ (cosine form)."""
    return torch.nn.functional.normalize(z, dim=-1) if getattr(model, "cosine", False) else z


def set_form(model: LinearVQ, form: str) -> None:
    """Give `model` the codebook form of a regime (vqlib.regimes.FORMS): affine parameters μ = 0, s = 1, or the cosine flag."""
    if form == "affine":
        L, _, m = model.codebook.shape
        model.affine_mean = torch.nn.Parameter(torch.zeros(L, 1, m, device=model.codebook.device))
        model.affine_scale = torch.nn.Parameter(torch.ones(L, 1, m, device=model.codebook.device))
    elif form == "cosine":
        model.cosine = True
    elif form != "plain":
        raise ValueError(f"form must be one of {list(regimes_mod.FORMS)}, got {form!r}")


def grid_losses(
    model: LinearVQ, layout: RowLayout, x_rows: torch.Tensor, beta: torch.Tensor, codebook_term: bool = True,
    rows: torch.Tensor | None = None,
) -> tuple[dict, dict]:
    """LinearVQ.losses for every slice, computed row-wise (same values and gradients up to rounding).

    x_rows (R, B, D): each row's minibatch. Returns (losses per slice (L,), forward outputs z, q, idx).
    codebook_term=False leaves the codebook loss out of the total (EMA codebooks: the codebook is no gradient parameter).
    rows: only these slices (sorted; a trainer's still-active ones), their parameters gathered inside the graph.
    """
    m = model.codebook.shape[-1]
    enc, dec, cb = model.encoder, model.decoder, codebook_of(model)
    if rows is not None:
        layout, pick = layout.subset(rows)
        x_rows, enc, dec, cb, beta = (t.index_select(0, i.to(t.device)) for t, i in
                                      ((x_rows, pick), (enc, rows), (dec, rows), (cb, rows), (beta, rows)))
    maps = torch.cat([enc.transpose(-1, -2), dec], -1)  # (L, D, 2m)
    y = layout.project(x_rows, maps)
    z, wx = y[..., :m], y[..., m:]
    z = latent_of(model, z)
    q, idx = quantize(z, cb)
    x_sq = (x_rows * x_rows).sum(-1)[layout.row_of_slice]
    q_tilde = model.estimator(z, q) if rows is None else model.estimator(z, q, rows)
    recon = recon_error(x_sq, wx, q_tilde, dec).mean(-1)
    cb = codebook_loss(z, q)
    commit = commitment_loss(z, q, beta)
    total = recon + cb + commit if codebook_term else recon + commit
    return {"total": total, "recon": recon, "codebook": cb, "commitment": commit}, {"z": z, "q": q, "idx": idx}


def train_grid(
    x_train: torch.Tensor,
    x_eval: torch.Tensor,
    slices: pd.DataFrame,
    encoder: torch.Tensor,
    codebook: torch.Tensor,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    eval_every: int = 0,
    restart_window: int = 50,
    decoder: torch.Tensor | None = None,
    A: torch.Tensor | None = None,
    labels_eval: torch.Tensor | None = None,
    learn_encoder: bool = True,
    evaluation: bool = True,
    regime: "regimes_mod.Regime | None" = None,
    min_steps: int = 0,
    x_val: torch.Tensor | None = None,
    floor: float | torch.Tensor = 0.0,
    observe: bool = False,
    compact: bool = True,
) -> GridRun:
    """Train every slice (row of `slices`) on the loss of eq. testbed-loss, as one batched model.

    Without `regime`: Adam at `lr` for every parameter (the book's first setting). With a
    :class:`vqlib.regimes.Regime`: its optimizer and per-group learning rates (encoder/decoder vs codebook;
    `lr` is then unused), its codebook update (EMA: vqlib.ema after every optimizer step, from the batch's z
    and assignments, and no codebook loss) and, with `regime.converge`, its stop rule (evaluate every
    regimes.CONVERGE_EVERY steps, stop when the held-out objective averaged over all slices improved by less
    than regimes.CONVERGE_TOL relative; `steps` is the cap), tested only from `min_steps` on: the objective
    E‖x − x̂‖² + (1 + β)E‖z − q‖² first *rises* for hundreds of steps (the encoder's free scale grows ‖z‖ several
    fold before the codebook catches up), so the rule alone would stop a "converged" run at its first check,
    before the fixed budget. The codebook start is the caller's (`codebook`).

    x_train (G, N, D) and x_eval (G, N_eval, D) hold G data rows; slice l trains on row slices.data[l]
    with β = slices.beta[l] and its method, from encoder[l] (m, D), codebook[l] (K, m) and decoder[l]
    (D, m) (default: encoder[l]ᵀ). Slices of one data row must share a seed. Evaluation (hard q) at step 0, every `eval_every` steps and at the end;
    A (G, D, m) adds subspace metrics, labels_eval (G, N_eval) cluster purity. evaluation=False skips
    every evaluation (an empty history: for timing runs).

    With a converging regime, x_val (G, N_val, D), a validation set drawn apart from x_eval, is required: each
    slice stops on its own validation excess error E‖x − x̂‖² − `floor` (one for all rows, or one per data row (G,);
    vqlib.regimes.stop_rule; the history
    then has a `val_excess` column) and is frozen from then on; the run ends when every slice has stopped or at
    the cap (observe=True: stop steps recorded, every slice trained on to the cap); once slices stop, the steps after
    compute only the others (vqlib.trainer.fit; compact=False computes every slice, same values). The regime's codebook form
    (affine, cosine: :func:`set_form`) applies to the gradient codebook only.
    """
    check_int("steps", steps, 1)
    check_int("batch_size", batch_size, 1)
    check_float("lr", lr, 0.0, strict_low=True)
    check_int("eval_every", eval_every, 0)
    check_int("min_steps", min_steps, 0)
    slices = check_slices(slices, x_train.shape[0])
    L = len(slices)
    if encoder.shape[0] != L or codebook.shape[0] != L:
        raise ValueError(f"encoder and codebook need one entry per slice ({L}), got {encoder.shape[0]} and {codebook.shape[0]}")
    device = x_train.device
    decoder = encoder.transpose(1, 2) if decoder is None else decoder
    est_names = [METHODS[m][0] for m in slices.method]
    model = LinearVQ(encoder, codebook, decoder, est_names, learn_encoder=learn_encoder, estimator_seed=stream(seed, "estimator")).to(device)
    active = torch.tensor([METHODS[m][1] for m in slices.method])
    restart = DeadCodeRestart(L, model.K, restart_window, active, stream(seed, "restart")) if active.any() else None
    layout = RowLayout(torch.tensor(slices.data.to_list()), torch.tensor(slices.seed.to_list()))
    beta = torch.tensor(slices.beta.to_list(), dtype=torch.float32, device=device)
    n_seeds = int(slices.seed.max()) + 1
    G, N, D = x_train.shape
    # Minibatch indices of every step and row (a row draws its seed's stream), as flat indices into x_train.
    batches, offsets = Minibatches(n_seeds, N, batch_size, stream(seed, "batches")), (layout.rows * N).view(-1, 1)
    x_flat = x_train.reshape(G * N, D)
    recipe = regimes_mod.adam(lr) if regime is None else regime
    use_ema = recipe.codebook_update == "ema"
    if recipe.form != "plain" and (use_ema or active.any()):
        raise ValueError(f"the {recipe.form} codebook form needs a gradient codebook without dead-code restart "
                         f"(regime {recipe.name!r}, methods {sorted(set(slices.method))})")
    set_form(model, recipe.form)
    if recipe.converge and x_val is None:
        raise ValueError(f"the {recipe.name!r} regime stops on a validation set: pass x_val")

    def losses(x_rows: torch.Tensor, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        parts, out = grid_losses(model, layout, x_rows, beta, codebook_term=not use_ema, rows=rows)
        return parts["total"], out

    task = VQObjective(model, beta, losses, compactable=True)
    opt = regimes_mod.optimizer(recipe, *task.param_groups(codebook=not use_ema))
    if use_ema:
        model.codebook.requires_grad_(False)
    stop = regimes_mod.stop_rule(recipe, L, min_steps, lambda row: torch.tensor(row.val_excess.to_numpy()), observe)
    floors = torch.as_tensor(floor, dtype=torch.float64).to(device)
    floors = floors[layout.rows[layout.row_of_slice]] if floors.ndim else floors

    def evaluate_step(step: int) -> pd.DataFrame:
        frame = _rows(slices, step, evaluate(model, layout, x_eval, beta, A, labels_eval))
        if stop is not None:
            frame["val_excess"] = (validation_error(model, layout, x_val) - floors).cpu().numpy()
        return frame

    run = fit(
        task,
        lambda step: x_flat.index_select(0, (batches(step)[layout.row_seed] + offsets).reshape(-1).to(device)).view(len(layout.rows), batch_size, D),
        steps, opt,
        emas=[EMACodebook(task, torch.arange(L), regimes_mod.ema_decay(recipe))] if use_ema else [],
        restart=restart,
        evaluate=evaluate_step,
        eval_every=eval_every, record=evaluation,
        stop=stop,
        desc="grid",
        compact=compact,
    )
    restarts = restart.restarts if restart is not None else torch.zeros(L, dtype=torch.long)
    history = pd.concat(run.history if evaluation else [slices.iloc[:0].assign(step=0), *run.history], ignore_index=True)
    return GridRun(slices, history, model, restarts, run.seconds_per_step, layout, run.steps_run,
                   *((stop.stop_step, stop.met) if stop is not None else (None, None)), run.slice_steps)


@torch.no_grad()
def validation_error(model: LinearVQ, layout: RowLayout, x_val: torch.Tensor) -> torch.Tensor:
    """E‖x − x̂‖² per slice (L,) on its data row's validation set, hard q, float64 mean (what the stop rule reads)."""
    m = model.codebook.shape[-1]
    x = x_val[layout.rows]
    y = layout.project(x, torch.cat([model.encoder.transpose(-1, -2), model.decoder], -1))
    z, wx = latent_of(model, y[..., :m]), y[..., m:]
    cb = codebook_of(model)
    chunk = max(1, 2**24 // (x.shape[1] * model.K))
    idx = torch.cat([assign(z[i : i + chunk], cb[i : i + chunk]) for i in range(0, len(z), chunk)])
    return recon_error((x * x).sum(-1)[layout.row_of_slice], wx, lookup(cb, idx), model.decoder).double().mean(-1)


def _rows(slices: pd.DataFrame, step: int, result: dict[str, torch.Tensor]) -> pd.DataFrame:
    frame = slices.copy()
    frame.insert(len(frame.columns), "step", step)
    for k, v in result.items():
        frame[k] = v.cpu().numpy()
    return frame


@torch.no_grad()
def evaluate(
    model: LinearVQ,
    layout: RowLayout,
    x_eval: torch.Tensor,
    beta: torch.Tensor,
    A: torch.Tensor | None = None,
    labels_eval: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Metrics per slice (L,) on its data row's evaluation set, with hard q (float32 maps, float64 means).

    Besides LinearVQ.evaluate's metrics: the held-out objective (eq. testbed-loss), the largest principal
    angle (degrees) between the true subspace and the encoder's row space / decoder's column space, and
    cluster purity with NMI and ARI, and the mean encoder-output norm ‖z‖ (the model's free scale). Errors are computed
    from m-dimensional pieces (:func:`recon_error`).
    """
    K, m = model.K, model.codebook.shape[-1]
    x = x_eval[layout.rows]
    enc, cb, dec = model.encoder, codebook_of(model), model.decoder
    y = layout.project(x, torch.cat([enc.transpose(-1, -2), dec], -1))
    z_raw, wx = y[..., :m], y[..., m:]
    z = latent_of(model, z_raw)
    chunk = max(1, 2**24 // (x.shape[1] * K))  # bound the (slices, N, K) score tensor
    idx = torch.cat([assign(z[i : i + chunk], cb[i : i + chunk]) for i in range(0, len(z), chunk)])
    q = lookup(cb, idx)
    D = x.shape[-1]
    sq = recon_error((x * x).sum(-1)[layout.row_of_slice], wx, q, dec).double()
    counts = metrics.code_counts(idx, K)
    latent = ((z - q) ** 2).sum(-1).double().mean(-1)
    res = {
        "recon_mse": sq.mean(-1) / D,
        "sq_error": sq.mean(-1),
        "latent_distortion": latent,
        "objective": sq.mean(-1) + (1 + beta.double()) * latent,
        "dead_codes": metrics.dead_codes(counts),
        "usage": metrics.usage(counts),
        "entropy_bits": metrics.entropy_bits(counts),
        "perplexity": metrics.perplexity(counts),
        "z_norm": z_raw.double().norm(dim=-1).mean(-1),
    }
    if A is not None:
        a = A[layout.rows]  # (R, D, r)
        ax = torch.bmm(x, a)[layout.row_of_slice]  # Aᵀx per slice, (L, N, r)
        a_slice = a[layout.row_of_slice]
        aw = a_slice.transpose(-1, -2) @ dec  # AᵀW, (L, r, m)
        res["subspace_distortion"] = recon_error((ax * ax).sum(-1), ax @ aw, q, aw).double().mean(-1)
        res["angle_encoder_deg"] = metrics.principal_angles_deg(enc.transpose(-1, -2), a_slice).max(-1).values
        res["angle_decoder_deg"] = metrics.principal_angles_deg(dec, a_slice).max(-1).values
    if labels_eval is not None:
        lab = labels_eval[layout.rows][layout.row_of_slice]
        res["purity"] = metrics.cluster_purity(idx, lab, K, int(labels_eval.max()) + 1)
        res["nmi"], res["ari"] = metrics.cluster_agreement(idx, lab)
    return res


@torch.no_grad()
def lloyd_gain(run: GridRun, x: torch.Tensor, iters: int = 20) -> torch.Tensor:
    """How far each slice's codebook is from a k-means (Lloyd) fixed point for its own encoder: (L,).

    Relative drop of the latent distortion E‖z − q‖² on the data rows x (G, N, D) when `iters` Lloyd
    iterations run from the trained codebook with the encoder fixed; 0 at a fixed point. Empty cells keep
    their code, so dead codes stay dead: the gain measures only how far live codes are from their centroids.
    """
    check_int("iters", iters, 1)
    layout, model = run.layout, run.model
    z = layout.project(x[layout.rows], model.encoder.transpose(-1, -2))
    cb = model.codebook.detach()
    chunk = max(1, 2**24 // (z.shape[1] * model.K))
    gains = []
    for i in range(0, len(z), chunk):
        zc, c = z[i : i + chunk], cb[i : i + chunk]
        before = sq_distances(zc, c).min(-1).values.double().mean(-1)
        after = sq_distances(zc, lloyd(zc, c, iters, tol=0.0)).min(-1).values.double().mean(-1)
        gains.append((before - after) / before)
    return torch.cat(gains)
