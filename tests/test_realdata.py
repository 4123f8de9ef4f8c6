"""The real-data study: loaders, the batched MLP VQ-VAE, SimVQ and DiVeQ, metrics and verdict rules."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from vqlib import claims, data, estimators, metrics, realdata, regimes
from vqlib.analysis import realdata as ar
from vqlib.mlpvq import MLPVQ, init_weights
from vqlib.quantize import codebook_loss
from vqlib.studies import realdata as study

# --- loaders ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return data.digits(3, n_eval=500, seed=7)


@pytest.fixture(scope="module")
def patches():
    return data.patches(2, 4, n_eval=1000, seed=3)


def test_digits_shapes_range_and_split(digits):
    assert digits.x_train.shape == (3, 1297, 64) and digits.x_eval.shape == (3, 500, 64)
    assert digits.x_train.min() >= 0 and digits.x_train.max() == 1.0  # grey levels 0..16 scaled by 1/16
    assert digits.shape == (8, 8) and digits.pixels == 64
    for s in range(3):  # a partition of the 1,797 digits, different for every seed
        tr, ev = set(digits.idx_train[s].tolist()), set(digits.idx_eval[s].tolist())
        assert not tr & ev and len(tr | ev) == 1797
    assert not torch.equal(digits.idx_eval[0], digits.idx_eval[1])
    assert torch.equal(digits.x_eval[1], digits.pool[digits.idx_eval[1]])


def test_loaders_are_deterministic_per_seed(digits):
    again = data.digits(3, n_eval=500, seed=7)
    assert torch.equal(again.x_train, digits.x_train) and torch.equal(again.idx_eval, digits.idx_eval)
    other = data.digits(3, n_eval=500, seed=8)
    assert not torch.equal(other.idx_eval, digits.idx_eval)
    small = data.digits(2, n_train=100, n_eval=50, seed=7)
    assert small.x_train.shape == (2, 100, 64) and small.x_eval.shape == (2, 50, 64)
    with pytest.raises(ValueError, match="n_eval"):
        data.digits(1, n_eval=1797)


def test_patches_shapes_range_and_split(patches):
    assert patches.pool.shape == (2 * 106 * 160, 16)  # 424×640 of each photo in 4×4 blocks
    assert patches.x_train.shape == (2, 33920 - 1000, 16) and patches.x_eval.shape == (2, 1000, 16)
    assert patches.pool.min() >= 0 and patches.pool.max() <= 1
    for s in range(2):
        assert not set(patches.idx_train[s].tolist()) & set(patches.idx_eval[s].tolist())
    assert torch.equal(data.patches(2, 4, n_eval=1000, seed=3).idx_train, patches.idx_train)
    # the pool is the photographs cut into blocks, row by row
    img = patches.images[0]
    assert torch.equal(data.blocks_to_image(patches.pool[: 106 * 160], 424, 640, 4), img)


def test_blocks_round_trip_and_greyscale():
    img = torch.arange(8 * 12, dtype=torch.float32).reshape(8, 12)
    blocks = data.image_to_blocks(img, 4)
    assert blocks.shape == (6, 16) and torch.equal(blocks[1], img[:4, 4:8].reshape(-1))
    assert torch.equal(data.blocks_to_image(blocks, 8, 12, 4), img)
    rgb = torch.tensor([[255, 255, 255], [255, 0, 0], [0, 0, 0]], dtype=torch.uint8)
    assert torch.allclose(data.greyscale(rgb), torch.tensor([1.0, 0.299, 0.0]))


# --- metrics ----------------------------------------------------------------------------------------------


def test_psnr_bpp_and_usage_per_batch():
    assert math.isclose(float(metrics.psnr_db(torch.tensor(0.01, dtype=torch.float64))), 20.0, rel_tol=1e-12)
    assert math.isclose(float(metrics.psnr_db(torch.tensor(0.25), peak=255.0)), 10 * math.log10(255**2 / 0.25))
    assert metrics.bits_per_pixel(256, 16) == 0.5 and metrics.bits_per_pixel(1024, 64) == 10 / 64
    idx = torch.tensor([[0, 0, 1, 1, 2, 3, 3, 3]])  # batches of 4: codes {0, 1} then {2, 3} of K = 8
    assert torch.allclose(metrics.usage_per_batch(idx, 8, 4), torch.tensor([0.25], dtype=torch.float64))
    assert torch.allclose(metrics.usage(metrics.code_counts(idx, 8)), torch.tensor([0.5], dtype=torch.float64))


def test_gaussian_bound_matches_water_filling(patches):
    from vqlib import rd

    x = patches.x_train[0].double().numpy()
    lam = np.linalg.eigvalsh(np.cov(x.T))
    assert math.isclose(study.gaussian_bound(patches, 64)[0], rd.gaussian_dr(lam, 6.0), rel_tol=1e-6)


# --- DiVeQ -------------------------------------------------------------------------------------------------


def _noise_direction(z, q, seed, sigma):
    v = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(z.dtype)
    u = (q - z) / torch.linalg.vector_norm(q - z, dim=-1, keepdim=True)
    s = u + sigma * v
    return s / torch.linalg.vector_norm(s, dim=-1, keepdim=True), u


def test_diveq_value_and_gradients_against_hand_derivation():
    g0 = torch.Generator().manual_seed(0)
    z = torch.randn(5, 4, generator=g0, dtype=torch.float64, requires_grad=True)
    q = torch.randn(5, 4, generator=g0, dtype=torch.float64, requires_grad=True)
    g = torch.randn(5, 4, generator=g0, dtype=torch.float64)
    out = estimators.diveq(z, q, torch.Generator().manual_seed(11), sigma=0.1)
    s, e = _noise_direction(z.detach(), q.detach(), 11, 0.1)
    dist = torch.linalg.vector_norm(q - z, dim=-1, keepdim=True).detach()
    assert torch.allclose(out, z.detach() + dist * s)
    out.backward(g)
    sg = (s * g).sum(-1, keepdim=True)
    assert torch.allclose(z.grad, g - e * sg)  # ∂q̃/∂z = I − ŝ eᵀ
    assert torch.allclose(q.grad, e * sg)  # ∂q̃/∂q = ŝ eᵀ: the codebook learns through the error's length
    # without noise the value is q itself
    assert torch.allclose(estimators.diveq(z.detach(), q.detach(), sigma=0.0), q.detach())


def test_diveq_at_q_equal_z_is_ste_and_finite():
    z = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    q = z.detach().clone().requires_grad_(True)
    out = estimators.diveq(z, q)
    g = torch.ones_like(out)
    out.backward(g)
    assert torch.equal(out, z.detach()) and torch.equal(z.grad, g) and torch.equal(q.grad, torch.zeros_like(g))


# --- the batched MLP VQ-VAE and SimVQ ------------------------------------------------------------------------


def _model(names, simvq, seed=0, L=None):
    L = len(names)
    w = init_weights(L, 6, 5, 3, seed)
    cb = torch.randn(L, 7, 3, generator=torch.Generator().manual_seed(seed + 1))
    basis = torch.randn(L, 7, 3, generator=torch.Generator().manual_seed(seed + 2))
    return w, cb, basis, MLPVQ(w, cb, names, torch.tensor(simvq), "gelu", basis=basis)


def test_batched_model_equals_each_slice_alone():
    names, simvq = ["ste", "rotation_trick", "projection", "diveq", "ste"], [False, False, False, False, True]
    w, cb, basis, model = _model(names, simvq)
    x = torch.rand(len(names), 9, 6, generator=torch.Generator().manual_seed(5))
    loss = model.losses(x, 0.25)
    loss["total"].sum().backward()
    for i, (name, sv) in enumerate(zip(names, simvq)):
        alone = MLPVQ({k: v[i : i + 1] for k, v in w.items()}, cb[i : i + 1], [name], torch.tensor([sv]), "gelu", basis=basis[i : i + 1])
        one = alone.losses(x[i : i + 1], 0.25)
        one["total"].sum().backward()
        for k in ("total", "recon", "codebook", "commitment"):
            assert torch.allclose(one[k][0], loss[k][i], rtol=1e-5, atol=1e-6), (name, k)
        for p_one, p_all in zip(alone.parameters(), model.parameters()):
            g_one = torch.zeros_like(p_one) if p_one.grad is None else p_one.grad  # SimVQ's W gets none where unused
            assert torch.allclose(g_one[0], p_all.grad[i], rtol=1e-4, atol=1e-6), name


def test_simvq_codes_and_gradient_of_w():
    w, cb, basis, model = _model(["ste", "ste"], [False, True])
    codes = model.codes()
    assert torch.equal(codes[0], cb[0]) and torch.allclose(codes[1], basis[1])  # W = I at the start
    with torch.no_grad():
        model.simvq_w[1] = torch.randn(3, 3, generator=torch.Generator().manual_seed(9))
    z = torch.randn(2, 11, 3, generator=torch.Generator().manual_seed(4))
    C, W = basis[1].double(), model.simvq_w[1].detach().double()
    from vqlib.quantize import quantize

    q, idx = quantize(z, model.codes())
    assert torch.equal(idx[1], torch.cdist(z[1].double(), C @ W).argmin(-1))  # q = nearest of C W
    codebook_loss(z, q).sum().backward()
    ck = C[idx[1]]  # (B, m) the chosen rows of C
    expected = -2 * ck.T @ (z[1].double() - ck @ W) / z.shape[1]  # ∂/∂W mean‖sg(z) − c_k W‖²
    assert torch.allclose(model.simvq_w.grad[1].double(), expected, atol=1e-5)
    assert torch.all(model.codebook.grad[1] == 0) and torch.all(model.simvq_w.grad[0] == 0)
    assert "basis" in dict(model.named_buffers())  # C is frozen: a buffer, no gradient


# --- the training driver, the stored study and its verdict rules ---------------------------------------------------------------------


def test_train_study_small(digits):
    regime = regimes.Regime("tiny", "adam", 1e-3, 1e-2, "gradient", "uniform", 6)
    run = realdata.train_study(digits, 8, ["ste", "restart", "ema", "simvq", "diveq"], regime, inits=["kmeans"], hidden=8, m=2,
                               batch_size=16, restart_window=2, init_vectors=200)
    assert len(run.final) == 6 * 3 and set(run.final.variant) == {"ste", "restart", "ema", "simvq", "diveq", "ste/kmeans"}
    assert np.isfinite(run.final[["psnr_db", "usage", "usage_batch", "perplexity"]].to_numpy()).all()
    assert (run.final.usage_batch <= run.final.usage + 1e-12).all()
    ema_regime = regimes.Regime("tiny-ema", "adam", 1e-3, 0.0, "ema", "uniform", 3)
    run = realdata.train_study(digits, 8, ["ste", "ema", "simvq"], ema_regime, hidden=8, m=2, batch_size=16)
    assert set(run.final.variant) == {"ste"} and set(run.dropped) == {"ema", "simvq"}


def _judge(rows: list[dict]) -> dict[str, str]:
    frame = pd.DataFrame(rows).assign(K=64)
    ids = [c for c in claims.CLAIMS if c.startswith("realdata-")]
    out = {}
    for cid in ids:
        try:
            out[cid] = claims.evaluate(claims.get(cid), ar.claim_frame(frame, frame)).verdict
        except claims.NotMeasured:
            out[cid] = "not testable"
    return out


def test_claim_rules_on_constructed_results():
    rows = []
    for s in range(6):
        rows.append({"variant": "ste", "init": "uniform", "seed": s, "dead_codes": 40 + s, "recon_mse": 1.0 + 0.01 * s, "perplexity": 10.0})
        rows.append({"variant": "projection", "init": "uniform", "seed": s, "dead_codes": 2 + (s % 2), "recon_mse": 1.0 + 0.01 * s + 0.05 * (-1) ** s,
                     "perplexity": 30.0 + s})
    out = _judge(rows)
    assert out["realdata-85-fewer-dead"] == "holds" and out["realdata-k64-dead"] == "holds"
    assert out["realdata-equal-quality"] == "inconclusive"  # ±5 % noise: the CI straddles the ±2 % margin
    assert out["realdata-utilization"] == "holds"
    assert out["realdata-init-uniform-dead"] == "not testable"  # no k-means or data-sample starts were run


def test_real_data_verdicts_refute_and_accept():
    rows = [{"variant": v, "init": "uniform", "seed": s, "dead_codes": d + (s % 3), "recon_mse": 1.0, "perplexity": 5.0 + (s % 2)}
            for s in range(8) for v, d in (("ste", 30), ("projection", 30))]
    out = _judge(rows)
    assert out["realdata-85-fewer-dead"] == "does not hold" and out["realdata-equal-quality"] == "holds"
    assert out["realdata-utilization"] == "does not hold" and out["realdata-rec-all-active"] == "does not hold"


@pytest.mark.parametrize(
    "params,needle",
    [
        ({"real_methods": ["ste", "rotation"]}, "real_methods[1] must be one of"),
        ({"regime_names": ["fast"]}, "regime_names[0] must be one of"),
        ({"curve_regime": "slow"}, "curve_regime must be one of"),
        ({"block": 1}, "block must be an integer in [2, 16]"),
        ({"hidden": 0}, "hidden must be"),
        ({"activation": "tanh"}, "activation must be one of"),
        ({"digits_methods": "ste"}, "digits_methods must be a list"),
    ],
)
def test_chapter_parameters_fail_naming_the_parameter(params, needle):
    from vqlib import params as registry

    with pytest.raises((TypeError, ValueError)) as err:
        registry.check(params)
    assert needle in str(err.value)


def test_bad_inputs_of_the_study_fail_fast(digits):
    with pytest.raises(ValueError, match="methods must be among"):
        realdata.train_study(digits, 8, ["ste", "rotation"], regimes.get("seeds-budget"))
    with pytest.raises(ValueError, match="inits must be among"):
        realdata.train_study(digits, 8, ["ste"], regimes.get("seeds-budget"), inits=["zeros"])
    with pytest.raises(ValueError, match="estimator must be one of"):
        MLPVQ(init_weights(1, 4, 3, 2), torch.zeros(1, 5, 2), ["rotation"])


def test_ema_regime_codebook_is_the_ema_of_assigned_outputs(digits):
    """With the network frozen (lr 0), the trained codebook equals vqlib.ema replayed on the same minibatches."""
    from vqlib import ema, init
    from vqlib.quantize import assign
    from vqlib.train import batch_indices, take_rows

    regime = regimes.Regime("frozen-ema", "adam", 0.0, 0.0, "ema", "uniform", 4, ema_decay=0.8)
    run = realdata.train_study(digits, 8, ["ste"], regime, hidden=8, m=2, batch_size=16, seed=0)
    S, N, D = digits.x_train.shape
    pool = digits.x_train[:, : N - run.n_val]  # the last n_val training vectors are the validation set, never trained on
    start = init_weights(S, D, 8, 2, 1)
    model = MLPVQ(start, torch.zeros(S, 8, 2), ["ste"] * S)
    with torch.no_grad():
        cb = init.codebook("uniform", model.encode(pool), 8, seed=2)
        state = ema.ema_init(cb)
        for idx in batch_indices(S, N - run.n_val, 4, 16, 3):
            z = model.encode(take_rows(pool, idx))
            cb = ema.ema_update(state, z, assign(z, cb), 0.8)
    assert torch.allclose(run.model.codebook.detach(), cb, atol=1e-6)


@pytest.fixture
def one_thread():
    """One torch thread for a test of a few thousand tiny steps (threads only contend at this size)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_converged_regime_stops_every_slice_at_its_first_check_when_nothing_learns(digits, one_thread):
    """Learning rates 0: the validation error never moves, so every slice meets the rule at its first check."""
    frozen = dataclasses.replace(regimes.get("converged"), steps=4000, lr=0.0, codebook_lr=0.0)
    run = realdata.train_study(digits, 8, ["ste", "projection"], frozen, hidden=4, m=2, batch_size=16)
    first = max(regimes.BASE_STEPS, regimes.CONVERGE_WINDOW)
    assert run.final.met_rule.dtype == bool and run.final.stop_step.dtype.kind == "i"
    assert run.final.met_rule.all() and (run.final.stop_step == first).all() and (run.final.step == first).all()
    assert np.array_equal(run.final.recon_mse, run.initial.recon_mse)  # nothing moved; held-out numbers as at the start
    capped = realdata.train_study(digits, 8, ["ste"], dataclasses.replace(regimes.get("converged"), steps=300), hidden=4, m=2,
                                  batch_size=16)
    assert not capped.final.met_rule.any() and (capped.final.stop_step == 300).all()  # no check can stop before the window
    fixed = realdata.train_study(digits, 8, ["ste"], dataclasses.replace(regimes.get("seeds-budget"), steps=3), hidden=4, m=2,
                                 batch_size=16)
    assert not {"stop_step", "met_rule"} & set(fixed.final.columns) and (fixed.final.step == 3).all()


def test_validation_vectors_are_withheld_from_training_in_every_regime(digits, monkeypatch, one_thread):
    """The last n_val training vectors (marked here) are never in a minibatch, in any regime; every regime draws the
    same minibatches; the stop rule scores exactly those vectors, and the reported numbers never see them."""
    S, N, D = digits.x_train.shape
    n_val = realdata.validation_size(N, 16)
    assert n_val == min(realdata.N_VAL, N // 4)
    marked = dataclasses.replace(digits, x_train=digits.x_train.clone())
    marked.x_train[:, N - n_val :, 0] = -7.0  # no pixel is negative
    take, score, held = realdata.take_rows, realdata.validation_mse, realdata.evaluate
    seen: dict[str, list] = {"batches": [], "scored": [], "evaluated": []}
    monkeypatch.setattr(realdata, "take_rows", lambda x, idx: seen["batches"].append(take(x, idx)) or seen["batches"][-1])
    monkeypatch.setattr(realdata, "validation_mse", lambda model, x: seen["scored"].append(x) or score(model, x))
    monkeypatch.setattr(realdata, "evaluate", lambda model, x, *a: seen["evaluated"].append(x) or held(model, x, *a))
    streams = []
    for name, steps in (("seeds-budget", 5), ("codebook-lr", 5), ("converged", 250)):
        seen["batches"].clear()
        run = realdata.train_study(marked, 8, ["ste"], dataclasses.replace(regimes.get(name), steps=steps), hidden=4, m=2, batch_size=16)
        assert run.n_val == n_val and len(seen["batches"]) == steps
        assert all((b[..., 0] != -7.0).all() for b in seen["batches"])
        streams.append(torch.stack(seen["batches"][:5]))
    assert torch.equal(streams[0], streams[1]) and torch.equal(streams[0], streams[2])
    assert len(seen["scored"]) == 2 and all((x[..., 0] == -7.0).all() and x.shape[1] == n_val for x in seen["scored"])  # steps 0, 250
    assert all((x[..., 0] != -7.0).all() for x in seen["evaluated"])
    with pytest.raises(ValueError, match="n_val must leave at least batch_size = 16"):
        realdata.train_study(digits, 8, ["ste"], regimes.get("seeds-budget"), batch_size=16, n_val=N - 15)


def test_mlp_refuses_a_codebook_form_it_does_not_have(digits):
    with pytest.raises(ValueError, match="regime must have a plain codebook"):
        realdata.train_study(digits, 8, ["ste"], regimes.get("cosine"))


# --- the stored study (vqlib.studies.realdata) and its readings (vqlib.analysis.realdata) --------------------------

TINY = {"seeds": 2, "seed": 0, "block": 4, "n_eval": 300, "n_eval_digits": 200, "K": 8, "K_list": [4, 8], "hidden": 4, "m": 2,
        "activation": "gelu", "beta": 0.25, "batch_size": 32, "restart_window": 2, "real_methods": ["ste", "projection", "restart", "ema"],
        "inits": ["kmeans"], "regime_names": ["seeds-budget", "ema"], "curve_methods": ["ste", "restart"], "curve_regime": "seeds-budget",
        "digits_methods": ["ste", "projection"], "lbg_iters": 2, "lbg_vectors": 200, "init_vectors": 200, "usage_batch": 64}


@pytest.fixture(scope="module")
def tiny_study():
    """Every task of the study at TINY parameters with 3-step regimes, concatenated in task order as results.load does."""
    mp = pytest.MonkeyPatch()
    for name in ("seeds-budget", "ema"):
        mp.setitem(regimes.REGIMES, name, dataclasses.replace(regimes.REGIMES[name], steps=3))
    tasks = study.tasks(TINY)
    parts = [study.compute(t, torch.device("cpu")) for t in tasks]
    res = {n: pd.concat([p[n] for p in parts], ignore_index=True) for n in parts[0]}
    yield tasks, parts, res
    mp.undo()


def test_study_tasks_and_tables(tiny_study):
    tasks, parts, res = tiny_study
    assert [(t["part"], t["regime"], t["K"]) for t in tasks] == [
        ("regime", "seeds-budget", 8), ("regime", "ema", 8), ("curve", "seeds-budget", 4), ("curve", "seeds-budget", 8),
        ("digits", "seeds-budget", 8)]
    assert [t["methods"] for t in tasks[2:4]] == [["ste", "restart"], []]  # at K the curve regime's task already ran them
    assert [t.get("recon", False) for t in tasks] == [True, False, False, False, False]
    assert all(set(p) == set(parts[0]) for p in parts)  # the same table names for every task
    for p in parts:  # plain columns only
        for frame in p.values():
            assert all(frame[c].dtype.kind in "biufO" or str(frame[c].dtype) == "str" for c in frame.columns)
    final = res["final"]
    assert len(final[final.part == "regime"]) == 2 * (4 + 1) + 2 * (3 + 1)  # 4 methods + STE/k-means; the ema regime drops "ema"
    assert list(res["dropped"].method) == ["ema"] and list(res["dropped"].regime) == ["ema"]
    assert set(final[final.part == "digits"].variant) == {"ste", "projection"}
    assert (res["runs"].slices.to_list()) == [10, 8, 4, 0, 4]


def test_study_regime_task_is_the_chapter_run(tiny_study, monkeypatch):
    """A regime task's rows are exactly what train_study gives for that regime (the computation the chapter made)."""
    _, parts, _ = tiny_study
    monkeypatch.setitem(regimes.REGIMES, "ema", dataclasses.replace(regimes.REGIMES["ema"], steps=3))
    x = data.patches(2, 4, n_eval=300, seed=0)
    run = realdata.train_study(x, 8, TINY["real_methods"], regimes.get("ema"), TINY["inits"], **{k: TINY[k] for k in study.TRAIN})
    stored = parts[1]["final"]
    pd.testing.assert_frame_equal(stored[run.final.columns], run.final)
    assert (stored.regime == "ema").all() and (stored.K == 8).all()


def test_curve_bound_and_readings(tiny_study):
    _, _, res = tiny_study
    curve = ar.curve(res, TINY["K_list"], TINY["curve_methods"], "seeds-budget")
    assert list(curve.K) == [4] * 6 + [8] * 6 and list(curve.variant[:6]) == ["ste"] * 2 + ["restart"] * 2 + ["lbg"] * 2
    at_k = res["final"][(res["final"].part == "regime") & (res["final"].regime == "seeds-budget") & res["final"].variant.isin(["ste", "restart"])]
    assert np.array_equal(curve[(curve.K == 8) & (curve.variant != "lbg")].psnr_db.to_numpy(), at_k.psnr_db.to_numpy())
    x = data.patches(2, 4, n_eval=300, seed=0)
    assert np.allclose(curve[curve.K == 4].dr_bound, np.tile(study.gaussian_bound(x, 4), 3))
    assert np.allclose(curve.gap_db, 10 * np.log10(curve.sq_error / curve.dr_bound))
    assert np.allclose(curve.psnr_bound_db, 10 * np.log10(16 / curve.dr_bound))  # 16 pixels, peak 1
    assert np.allclose(curve.bpp, np.log2(curve.K) / 16)
    lbg = study.lbg(x, 4, 2, 0, 64, 200)  # LBG at K = 4 as the curve task ran it
    assert np.array_equal(curve[(curve.K == 4) & (curve.variant == "lbg")].sq_error.to_numpy(), lbg.sq_error.to_numpy())
    read = ar.rate_readings(curve, TINY["K_list"])
    assert read["k_lo"] == 4 and read["k_hi"] == 8 and read["lbg_psnr"].startswith("K = 4: ")
    assert ar.usage_readings(curve, TINY["K_list"], 64)["batch_cap"] == "100 %"


def test_reconstruction_table_and_panels(tiny_study):
    _, _, res = tiny_study
    rec = res["recon"]
    assert set(rec.regime) == {"seeds-budget"} and list(dict.fromkeys(rec.variant)) == ["original", "ste", "projection", "restart", "ema"]
    x = data.patches(2, 4, n_eval=300, seed=0)
    r0, c0, h, w = study.CROP
    panels = ar.recon_panels(rec)
    assert panels[0][0] == "original" and np.array_equal(panels[0][1], x.images[0, r0 : r0 + h, c0 : c0 + w].numpy())
    assert [t.split("\n")[0] for t, _ in panels[1:]] == ["STE", "Rotation (seeds; a projection)", "STE + dead-code restart", "STE + EMA codebook"]
    assert all(img.shape == (h, w) and img.min() >= 0 and img.max() <= 1 for _, img in panels)


def test_regime_readings_and_claims_from_the_store(tiny_study):
    _, _, res = tiny_study
    finals, initials = ar.by_regime(res["final"], TINY["regime_names"]), ar.by_regime(res["initial"], TINY["regime_names"])
    assert (finals["ema"].step == 3).all() and (initials["ema"].step == 0).all()
    frame = ar.claim_frame(finals["seeds-budget"], initials["seeds-budget"])
    assert frame.dead_codes_start.notna().all() and "ste/uniform" in set(frame.method)
    ids = [c for c in claims.CLAIMS if c.startswith("realdata-")]
    assert set(ids) | {c for c in claims.CLAIMS if c.startswith("realconv-")} == set(ar.SYNTHETIC)  # each beside a synthetic claim
    for cid in ids:  # every real-data claim is judged on the chapter's frame (or is not testable where a method is missing)
        try:
            assert claims.evaluate(claims.get(cid), frame).verdict in ("holds", "does not hold", "inconclusive", "not applicable")
        except claims.NotMeasured:
            pass
    red = ar.reductions(finals, {"seeds-budget": "uniform", "ema": "uniform"})
    assert list(red.regime) == ["seeds-budget", "ema"] and "STE, k-means start" not in red.columns
    vals = ar.reduction_values(red)
    assert vals["red_restart_codebook_lr"] == "(not run)" and (vals["red_proj_ema"].endswith("%") or vals["red_proj_ema"].startswith("undefined"))
    assert ar.dropped_text(res["dropped"]).startswith("ema: STE + EMA codebook (")
    size = ar.sizes(res)
    assert size.loc["patches", "pixels"] == 16 and size.loc["digits", "n_train"] == 1797 - 200
    shown, _ = ar.method_table(pd.concat(finals.values(), ignore_index=True), ["regime", "variant"])
    assert len(shown) == 5 + 4 and "usage per batch (%)" in shown.columns


def test_bimodal_psnr_is_shown_per_seed_with_its_failure_count():
    import pandas as pd

    from vqlib.analysis import realdata as ar

    ste = [20.0, 20.2, 19.8, 20.1]
    bimodal = [22.0, 10.0, 22.1, 10.1]  # two seeds more than FAIL_DB below STE's median 20.05
    frame = pd.DataFrame({"regime": "r", "variant": ["ste"] * 4 + ["diveq"] * 4, "psnr_db": ste + bimodal,
                          "dead_codes": 0.0, "usage": 1.0, "usage_batch": 1.0, "perplexity": 1.0, "seed": list(range(4)) * 2})
    out = ar.failures(frame, ["regime", "variant"])
    assert list(out.method) == ["DiVeQ variant (vqlib)"] and out["failed seeds"].iloc[0] == "2 of 4"  # STE has no failed seed
    assert out["PSNR per seed (dB, increasing)"].iloc[0] == "10, 10.1, 22, 22.1"
    shown = ar.method_table(frame, ["regime", "variant"])[0]
    assert shown["PSNR (dB)"].iloc[1] == "median 16.1; 2 of 4 seeds failed" and "[" in shown["PSNR (dB)"].iloc[0]


def test_converged_regime_task_and_its_stop_readings(monkeypatch):
    """A converged regime task of the study: its final table carries stop_step and met_rule, read by the stop table."""
    monkeypatch.setitem(regimes.REGIMES, "converged", dataclasses.replace(regimes.REGIMES["converged"], steps=3))
    t = study.tasks({**TINY, "regime_names": ["converged"]})[0]
    assert (t["part"], t["regime"]) == ("regime", "converged") and {"stop_step", "met_rule"} <= set(study.SPREAD)
    out = study.compute(t, torch.device("cpu"))
    final = out["final"]
    assert (final.stop_step == 3).all() and not final.met_rule.any() and (final.regime == "converged").all()
    assert int(out["sizes"].n_val.iloc[0]) == realdata.validation_size(int(out["sizes"].n_train.iloc[0]), TINY["batch_size"])
    finals = {"converged": final, "ema": final.iloc[:0].drop(columns=["stop_step", "met_rule"])}
    table = ar.stops_table(finals)
    assert list(table.method) == ["STE", "Rotation (seeds; a projection)", "STE + dead-code restart", "STE + EMA codebook",
                                  "STE, k-means start"]
    assert (table["met the rule"] == "0 %").all() and (table.slices == TINY["seeds"]).all()
    vals = ar.stop_values(finals)
    assert vals["met_share"] == f"0 % (0 of {len(final)})" and vals["unmet"].startswith("STE (0 of 2)")
    assert "note" in ar.stops_table({"ema": finals["ema"]}) and ar.stop_values({})["met_share"] == "(not run)"
    recipes = ar.recipe_table([regimes.get(n).as_row() for n in ("seeds-budget", "converged")])
    assert list(recipes.stop_rule.str.split(":").str[0]) == ["fixed budget", "per slice"] and "validation MSE" in recipes.stop_rule[1]
