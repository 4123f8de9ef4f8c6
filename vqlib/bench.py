"""What the VQ step costs: each estimator against STE, a bare matmul and vector-quantize-pytorch; seed vectorization.

    python -m vqlib.bench                  # the full grid: B in {1024, 4096}, m in {4, 64}, K in {32, 1024}
    python -m vqlib.bench --quick          # one small shape (a smoke run)
    python -m vqlib.bench --trainer        # the training loop's cost per slice-step at the testbed's shapes

One *step* is what a training step spends on quantization: nearest-codeword assignment (one B x K
distance matmul and an argmin), the codeword gather, the estimator, the codebook and commitment losses,
and the backward pass to z and the codebook. Everything runs on one CPU thread (as the chapters do),
and every method is timed on the same tensors, interleaved, so slow drifts of a shared machine hit
all methods alike.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import pandas as pd
import torch

from vqlib import data, estimators
from vqlib.checks import check_int
from vqlib.models import LinearVQ
from vqlib.quantize import codebook_loss, commitment_loss, quantize
from vqlib.train import train

#: The grid the issue asks for.
GRID = {"B": (1024, 4096), "m": (4, 64), "K": (32, 1024)}
#: Our estimators as timed (ste_manual is STE with a hand-written backward).
OURS = ("ste", "ste_manual", "projection", "rotation_trick")
#: vector-quantize-pytorch: its layer with STE, with its rotation trick, and its rotate_to inside our step.
VQP = ("vqp_ste", "vqp_rotation_trick", "vqp_rotate_to")
BETA = 0.25


def vqp_available() -> bool:
    """Whether vector-quantize-pytorch (a development dependency) can be imported."""
    try:
        import vector_quantize_pytorch  # noqa: F401
    except ImportError:
        return False
    return True


def _our_step(estimator: Callable, z: torch.Tensor, cb: torch.Tensor, target: torch.Tensor) -> Callable[[], None]:
    """One quantization step with one of our estimators: assign, gather, estimator, losses, backward."""

    def step() -> None:
        z.grad = cb.grad = None
        q, _ = quantize(z, cb)
        loss = ((estimator(z, q) - target) ** 2).sum(-1).mean() + codebook_loss(z, q) + commitment_loss(z, q, BETA)
        loss.backward()

    return step


def _vqp_layer_step(rotation_trick: bool, z: torch.Tensor, cb: torch.Tensor, target: torch.Tensor) -> Callable[[], None]:
    """The same step through vector-quantize-pytorch's VectorQuantize layer (codebook learned by gradient, no EMA)."""
    from vector_quantize_pytorch import VectorQuantize

    B, m = z.shape
    vq = VectorQuantize(
        dim=m, codebook_size=cb.shape[0], rotation_trick=rotation_trick, commitment_weight=BETA,
        learnable_codebook=True, ema_update=False,
    )
    with torch.no_grad():
        vq._codebook.embed.copy_(cb.unsqueeze(0))
    vq.train()
    x, t = z.unsqueeze(0), target.unsqueeze(0)

    def step() -> None:
        z.grad = None
        vq.zero_grad(set_to_none=True)
        out, _, aux = vq(x)
        loss = ((out - t) ** 2).sum(-1).mean() + aux.sum()
        loss.backward()

    return step


def _vqp_rotate_to(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    from vector_quantize_pytorch.vector_quantize_pytorch import rotate_to

    return rotate_to(z, q)


def step_functions(B: int, m: int, K: int, seed: int = 0, with_vqp: bool = True) -> dict[str, Callable[[], None]]:
    """Every timed method on one shape, all on the same z, codebook and target; 'matmul' is one bare z @ Cᵀ."""
    for name, v in (("B", B), ("m", m), ("K", K)):
        check_int(name, v, 1)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(B, m, generator=gen).requires_grad_(True)
    cb = torch.randn(K, m, generator=gen).requires_grad_(True)
    target = torch.randn(B, m, generator=gen)
    zd, cbt = z.detach(), cb.detach().T.contiguous()
    fns: dict[str, Callable[[], None]] = {"matmul": lambda: zd @ cbt}
    for name in OURS:
        fns[name] = _our_step(estimators.get_estimator(name), z, cb, target)
    if with_vqp:
        fns["vqp_ste"] = _vqp_layer_step(False, z, cb.detach(), target)
        fns["vqp_rotation_trick"] = _vqp_layer_step(True, z, cb.detach(), target)
        fns["vqp_rotate_to"] = _our_step(_vqp_rotate_to, z, cb, target)
    return fns


def calls_per_block(fn: Callable[[], None], block_seconds: float) -> int:
    """How many calls of fn fill about block_seconds (at least 1), after one warm-up call."""
    fn()
    start = time.thread_time()
    fn()
    return max(1, round(block_seconds / max(time.thread_time() - start, 1e-9)))


def time_block(fn: Callable[[], None], number: int) -> float:
    """Seconds per call over one block of `number` back-to-back calls."""
    start = time.thread_time()
    for _ in range(number):
        fn()
    return (time.thread_time() - start) / number


def step_times(shapes: list[tuple[int, int, int]], rounds: int = 15, block_seconds: float = 0.02, with_vqp: bool = True) -> pd.DataFrame:
    """Seconds per step of every method on every (B, m, K): `rounds` rounds, each timing one block per method.

    Methods take turns within a round (in a rotating order), so a ratio taken within a round compares
    methods measured a few milliseconds apart: robust to the load drifts of a shared machine.
    """
    check_int("rounds", rounds, 1)
    rows = []
    for B, m, K in shapes:
        fns = step_functions(B, m, K, with_vqp=with_vqp)
        number = {name: calls_per_block(fn, block_seconds) for name, fn in fns.items()}
        names = list(fns)
        for r in range(rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                rows.append({"B": B, "m": m, "K": K, "round": r, "method": name, "seconds": time_block(fns[name], number[name])})
    return pd.DataFrame(rows)


def ratios(times: pd.DataFrame) -> pd.DataFrame:
    """Per shape and method: median time per step, and the median over rounds of its within-round ratios

    to STE, to the bare matmul and (our STE and rotation trick) to vector-quantize-pytorch's matching layer.
    """
    out = []
    for (B, m, K), shape in times.groupby(["B", "m", "K"], sort=False):
        wide = shape.pivot(index="round", columns="method", values="seconds")
        for method in [c for c in shape.method.unique() if c != "matmul"]:
            ref = {"ste": "vqp_ste", "rotation_trick": "vqp_rotation_trick"}.get(method)
            out.append({
                "B": B, "m": m, "K": K, "method": method,
                "us_per_step": 1e6 * wide[method].median(),
                "vs_ste": (wide[method] / wide["ste"]).median(),
                "vs_matmul": (wide[method] / wide["matmul"]).median(),
                "vs_vqp": (wide[method] / wide[ref]).median() if ref in wide else float("nan"),
            })
    return pd.DataFrame(out)


def seed_scaling(seeds: tuple[int, ...] = (1, 5), steps: int = 50, rounds: int = 5, estimator: str = "ste") -> pd.DataFrame:
    """Seconds to train the testbed (D=64, m=4, K=32, batch 256) for S seeds at once, and the ratio to S=1.

    The ratio is the median over rounds of within-round ratios (the seed counts take turns in each round).
    """
    check_int("steps", steps, 1)
    check_int("rounds", rounds, 1)
    tb = data.linear_gaussian(max(seeds), 64, data.spectrum(4), 0.1, 2000, 2000, seed=0)
    enc = data.random_orthonormal(max(seeds), 64, 4, torch.Generator().manual_seed(1)).transpose(1, 2)
    cb = (2 * torch.rand(max(seeds), 32, 4, generator=torch.Generator().manual_seed(2)) - 1) / 32
    rows = []
    for r in range(rounds):
        for S in seeds:
            model = LinearVQ(enc[:S], cb[:S], enc[:S].transpose(1, 2), estimator)
            start = time.thread_time()
            train(model, tb.x_train[:S], tb.x_eval[:S], steps, 256, 1e-3, BETA, seed=r)
            rows.append({"seeds": S, "round": r, "seconds": time.thread_time() - start})
    wide = pd.DataFrame(rows).pivot(index="round", columns="seeds", values="seconds")
    return pd.DataFrame({
        "seeds": list(seeds),
        "seconds": [wide[S].median() for S in seeds],
        "vs_one_seed": [(wide[S] / wide[min(seeds)]).median() for S in seeds],
    })


def grid_shapes(B_list=GRID["B"], m_list=GRID["m"], K_list=GRID["K"]) -> list[tuple[int, int, int]]:
    """Every (B, m, K) of a grid (default: the grid of the issue)."""
    return [(B, m, K) for B in B_list for m in m_list for K in K_list]


#: The trainer benchmark's grid: the testbed's shapes, 4 methods x 20 seeds = 80 slices, Adam.
TRAINER_METHODS = ("ste", "projection", "rotation_trick", "restart")


def trainer_cost(seeds: int = 20, steps: int = 100, rounds: int = 5, methods: tuple[str, ...] = TRAINER_METHODS) -> pd.DataFrame:
    """Cost of one training step of the batched testbed grid (D=64, m=4, K=32, batch 256, Adam; no evaluation).

    One row per round: wall milliseconds per step (the grid's own timer), and thread CPU milliseconds per step
    (a run of `steps` minus a run of one step, so set-up is left out; robust to a loaded machine), each also
    per slice-step (divided by the slices).
    """
    from vqlib.studies import common

    check_int("seeds", seeds, 1)
    check_int("steps", steps, 2)
    check_int("rounds", rounds, 1)
    tb = common.testbed_data(seeds, 64, 4, 0.1, 4.0, 0.5, 2000, 200, 0, torch.device("cpu"))
    slices = len(methods) * seeds

    def run(n: int, r: int) -> tuple[float, float]:
        start = time.thread_time()
        out = common.estimator_grid([tb], 32, list(methods), [BETA], n, 256, 1e-3, r, evaluation=False)
        return time.thread_time() - start, out.seconds_per_step

    run(2, 0)  # warm-up
    rows = []
    for r in range(rounds):
        one, _ = run(1, r)
        total, wall = run(steps, r)
        cpu = (total - one) / (steps - 1)
        rows.append({"round": r, "slices": slices, "ms_per_step": 1e3 * cpu, "ms_per_slice_step": 1e3 * cpu / slices,
                     "wall_ms_per_step": 1e3 * wall, "wall_ms_per_slice_step": 1e3 * wall / slices})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vqlib.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one small shape, few rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=15, help="rounds per shape; each times one block per method")
    parser.add_argument("--block", type=float, default=0.02, help="seconds of back-to-back calls per block")
    parser.add_argument("--csv", help="also write the step ratios to this CSV file")
    parser.add_argument("--trainer", action="store_true", help="only the training loop's cost per slice-step (testbed shapes, 80 slices)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one thread, as the chapters run
    if args.trainer:
        cost = trainer_cost(steps=20 if args.quick else 100, rounds=2 if args.quick else 5)
        print("Training loop, testbed grid (D=64, m=4, K=32, batch 256, 4 methods x 20 seeds = 80 slices, Adam), one thread:")
        print(cost.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"median (thread CPU): {cost.ms_per_step.median():.4g} ms per step, {cost.ms_per_slice_step.median():.4g} ms per slice-step")
        return 0
    with_vqp = vqp_available()
    shapes = [(1024, 4, 32)] if args.quick else grid_shapes()
    rounds = 3 if args.quick else args.rounds
    table = ratios(step_times(shapes, rounds, args.block, with_vqp))
    pd.set_option("display.width", 200)
    print(f"VQ step on 1 CPU thread (torch {torch.__version__}); vector-quantize-pytorch: {'yes' if with_vqp else 'not installed'}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if args.csv:
        table.to_csv(args.csv, index=False)
    scaling = seed_scaling(steps=20 if args.quick else 50, rounds=2 if args.quick else 7)
    print("\nTestbed training (D=64, m=4, K=32, batch 256), S seeds in one vectorized run:")
    print(scaling.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
