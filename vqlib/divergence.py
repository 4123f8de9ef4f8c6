"""Where last-bit differences between machines enter, and how training grows them.

    python -m vqlib.divergence            # this machine, natively vs the restricted instruction set

Runs the same computations in two subprocesses, one with the numeric libraries free to use this CPU's
widest instructions and one held to an older instruction set (as `make nbval-restricted` does), and compares
them bit for bit: first single operations (random draws, a float32 matmul, reductions, elementwise math, an
Adam step), then one testbed training run step by step (parameters, nearest-code assignments, dead codes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

#: The environment that holds torch, MKL and oneDNN to an older instruction set (the Makefile's RESTRICTED).
RESTRICTED = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}


def operations(seed: int = 0) -> dict[str, torch.Tensor]:
    """Single operations on fixed random inputs, as the training loop uses them (float32 unless named)."""
    from vqlib.data import normal

    gen = torch.Generator().manual_seed(seed)
    x = normal(256, 64, generator=gen).float()  # identical inputs on both sides: differences below come from the operation
    w = normal(64, 4, generator=gen).float()
    c = normal(32, 4, generator=gen).float()
    z = x @ w
    p = torch.nn.Parameter(w.clone())
    opt = torch.optim.Adam([p], lr=1e-3)
    (p.square().sum()).backward()
    opt.step()
    return {
        "normal draws, float32 sampler": torch.randn(256, 64, generator=torch.Generator().manual_seed(seed)),
        "normal draws, float64 (data.normal)": normal(256, 64, generator=torch.Generator().manual_seed(seed)),
        "matmul 256×64 @ 64×4": z,
        "batched matmul (bmm)": torch.bmm(x.view(4, 64, 64), x.view(4, 64, 64)),
        "sum over 256×64": x.sum().reshape(1),
        "squared distances to 32 codes": ((z.unsqueeze(1) - c) ** 2).sum(-1),
        "exp and log": torch.log1p(torch.exp(x)),
        "norm (float64 accumulation)": torch.linalg.vector_norm(x, dim=-1, dtype=torch.float64),
        "Adam step": p.detach(),
    }


def training(steps: int, seeds: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The testbed's STE run (canonical setting, `seeds` seeds) through the one trainer: parameters after every
    step, and held-out assignments and dead codes after every step."""
    from vqlib import init
    from vqlib.models import LinearVQ
    from vqlib.studies import common
    from vqlib.train import train

    torch.set_num_threads(1)
    tb = common.testbed_data(seeds, 64, 4, 0.1, 4.0, 0.5, 10000, 10000, seed, torch.device("cpu"))
    enc = common.start_encoder(tb, seed)
    cb = init.codebook("uniform", tb.x_train @ enc.transpose(1, 2), 32, seed=seed + 2)
    model = LinearVQ(enc, cb, enc.transpose(1, 2), "ste")
    params, assign, dead = [], [], []

    @torch.no_grad()
    def record(m: LinearVQ, step: int) -> None:
        if step == 0:
            return
        params.append(torch.cat([p.detach().reshape(seeds, -1) for p in m.parameters()], 1))
        idx = m(tb.x_eval[:, :2000], hard=True)["idx"]
        assign.append(idx)
        dead.append(32 - torch.stack([torch.bincount(i, minlength=32) for i in idx]).gt(0).sum(-1))

    train(model, tb.x_train, tb.x_eval[:, :2000], steps, seed=seed + 3, callback=record)
    return {"params": torch.stack(params), "assign": torch.stack(assign), "dead": torch.stack(dead)}


def _child(path: str, steps: int, seeds: int) -> None:
    torch.save({"ops": operations(), "train": training(steps, seeds)}, path)


def _run(env_extra: dict[str, str], steps: int, seeds: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in RESTRICTED}
    env.update(env_extra)
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "out.pt")
        subprocess.run([sys.executable, "-m", "vqlib.divergence", "--child", path, "--steps", str(steps), "--seeds", str(seeds)],
                       env=env, check=True)
        return torch.load(path)


def report(steps: int = 500, seeds: int = 5) -> str:
    """Compare a native and a restricted run on this machine; the report as text."""
    a, b = _run({}, steps, seeds), _run(RESTRICTED, steps, seeds)
    lines = ["single operations (native vs restricted): largest absolute difference"]
    for name, t in a["ops"].items():
        d = (t.double() - b["ops"][name].double()).abs().max().item()
        lines.append(f"  {name:37s} {'identical' if d == 0 else f'{d:.2e}'}")
    pa, pb = a["train"]["params"].double(), b["train"]["params"].double()
    diff = (pa - pb).abs().amax(-1)  # (steps, seeds)
    first = [int(torch.nonzero(diff[:, s]).min()) + 1 if diff[:, s].any() else None for s in range(seeds)]
    lines.append(f"testbed STE training, {seeds} seeds, {steps} steps (parameters after each step)")
    lines.append(f"  first step with any difference, per seed: {first}")
    for step in sorted({1, 10, 50, 100, 200, steps} & set(range(1, steps + 1))):
        lines.append(f"  step {step:4d}: largest parameter difference {diff[step - 1].max().item():.2e}")
    flips = (a["train"]["assign"] != b["train"]["assign"]).sum(-1)  # (steps, seeds): of 2000 held-out vectors
    lines.append(f"  held-out assignments that differ (of 2000 per seed) at the end: {flips[-1].tolist()}")
    lines.append(f"  dead codes at the end, native vs restricted: {a['train']['dead'][-1].tolist()} vs {b['train']['dead'][-1].tolist()}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vqlib.divergence", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.steps, args.seeds)
    else:
        print(report(args.steps, args.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
