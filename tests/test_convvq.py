"""The convolutional VQ-VAE (vqlib.convvq), its training harness (vqlib.realconv) and the held-out photographs (vqlib.images)."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vqlib import convvq, images, published, realconv, regimes


def _model(methods, K=8, m=8, hidden=16, seed=0, levels=None):
    S = len(methods)
    w = convvq.init_weights(S, hidden, m, seed)
    simvq = published.simvq_start(S, K, m, seed)
    return convvq.ConvVQ(w, torch.randn(S, K, m, generator=torch.Generator().manual_seed(seed)), methods, simvq=simvq, levels=levels)


def test_slices_are_each_their_own_convolutional_autoencoder():
    """Grouped convolutions give, slice by slice, exactly torch's conv2d / conv_transpose2d with that slice's weights."""
    model = _model(["ste", "simvq", "diveq"]).double()
    x = torch.rand(3, 5, 16, 16, dtype=torch.float64)
    z = model.encode(x)
    out = model.decode(z, 5)
    assert z.shape == (3, 5 * 16, 8) and out.shape == x.shape
    for s in range(3):
        h = F.relu(F.conv2d(x[s].unsqueeze(1), model.enc1[s], model.enc1_b[s], stride=2, padding=1))
        zs = F.conv2d(h, model.enc2[s], model.enc2_b[s], stride=2, padding=1)  # (B, m, 4, 4)
        assert torch.allclose(z[s], zs.permute(0, 2, 3, 1).reshape(-1, 8), atol=1e-12)
        h = F.relu(F.conv_transpose2d(zs, model.dec1[s], model.dec1_b[s], stride=2, padding=1))
        xs = F.conv_transpose2d(h, model.dec2[s], model.dec2_b[s], stride=2, padding=1)[:, 0]
        assert torch.allclose(out[s], xs, atol=1e-12)
    assert convvq.n_weights(16, 8) == 4649


def test_losses_follow_each_method():
    """VQ-VAE: recon + ‖sg z − q‖² + β‖z − sg q‖²; SimVQ (legacy): β on the codebook term, 1 on the encoder's; DiVeQ, NSVQ: recon only."""
    methods = ["ste", "simvq", "diveq", "nsvq", "diveq_variant"]
    model = _model(methods)
    x = torch.rand(len(methods), 4, 16, 16)
    loss = model.losses(x)
    r, cb, cm = loss["recon"], loss["codebook"], loss["commitment"]
    want = torch.stack([r[0] + cb[0] + 0.25 * cm[0], r[1] + 0.25 * cb[1] + cm[1], r[2], r[3], r[4] + cb[4] + 0.25 * cm[4]])
    assert torch.allclose(loss["total"], want)
    assert (cb > 0).all() and (cm > 0).all()


def test_simvq_slice_learns_its_linear_layer_not_its_codebook():
    model = _model(["ste", "simvq"])
    codes = model.codes()
    assert torch.allclose(codes[1], model.simvq_c[1] @ model.simvq_w[1].T + model.simvq_b[1])
    assert torch.equal(codes[0], model.codebook[0])
    model.losses(torch.rand(2, 4, 16, 16))["total"].sum().backward()
    assert model.simvq_w.grad[1].abs().sum() > 0 and model.simvq_b.grad[1].abs().sum() > 0
    assert model.codebook.grad[1].abs().sum() == 0 and model.codebook.grad[0].abs().sum() > 0


def test_fsq_model_rate_and_indices():
    levels = published.fsq_levels(64)
    model = _model(["fsq", "fsq"], K=64, m=len(levels), levels=levels)
    tiles = torch.rand(40, 16, 16)
    res = convvq.evaluate(model, tiles)
    assert torch.allclose(res["bpp_fixed"], torch.full((2,), math.log2(64) / 16, dtype=torch.float64))
    assert (res["bpp_entropy"] <= res["bpp_fixed"] + 1e-12).all() and (res["bpp_entropy"] >= 0).all()
    assert torch.allclose(res["bpp_entropy"], res["entropy_bits"] / 16)
    assert (res["dead_codes"] + res["usage"] * 64 == 64).all()


def test_held_out_images_are_whole_and_disjoint():
    split = images.SPLITS["wheels-v1"]
    assert not set(split["train"]) & set(split["eval"])
    data = images.crops("wheels-v1", 16, 8)
    want = sum((images.load(n).shape[0] // 16) * (images.load(n).shape[1] // 16) for n in split["eval"])
    assert data.x_eval.shape == (want, 16, 16)
    assert float(data.x_train.min()) >= 0 and float(data.x_train.max()) <= 1
    first = images.load(split["eval"][0])
    assert torch.equal(data.x_eval[0], first[:16, :16]) and torch.equal(data.x_eval[1], first[:16, 16:32])


def _tiny_crops():
    gen = torch.Generator().manual_seed(0)
    img = F.avg_pool2d(torch.rand(1, 1, 70, 70, generator=gen), 3, 1).squeeze()
    return images.Crops("tiny", images.tiles(img[:, :40], 16, 4), images.tiles(img[:, 40:], 16, 16), ("left",), ("right",))


def test_training_runs_every_method_and_learns():
    data = _tiny_crops()
    regime = replace(regimes.get("seeds-budget"), steps=60)
    methods = ["ste", "rotation_trick", "restart", "ema", "simvq", "diveq", "diveq_variant", "nsvq", "fsq"]
    run = realconv.train(data, 16, methods, regime, n_seeds=2, batch_size=16, replace_every=20)
    assert sorted(run.final.method.unique()) == sorted(methods) and len(run.final) == 2 * len(methods)
    first = run.initial.set_index(["method", "seed"]).psnr_db
    last = run.final.set_index(["method", "seed"]).psnr_db
    # every method's held-out PSNR rises, but restart's: its codes re-seeded at step 50 from a batch's z are inputs
    # the decoder (trained on one live code until then) has never seen, so 10 steps later it is still recovering
    assert (last.drop("restart") > first.drop("restart")).all()
    dead = run.final.set_index(["method", "seed"]).dead_codes
    assert (dead["restart"] < dead["ste"]).all()
    assert run.seconds_per_step > 0 and not run.dropped
    ema = realconv.train(data, 16, ["ste", "simvq", "diveq", "diveq_variant", "nsvq", "fsq"], replace(regimes.get("ema"), steps=3),
                         n_seeds=1, batch_size=8)
    assert sorted(ema.dropped) == ["diveq", "diveq_variant", "fsq", "nsvq", "simvq"] and list(ema.final.method) == ["ste"]


def test_a_method_trained_alone_is_trained_as_beside_the_others():
    """The converged regime runs one task per method: a method alone must see the same start and minibatches (paired)."""
    data = _tiny_crops()
    regime = replace(regimes.get("seeds-budget"), steps=20)
    both = realconv.train(data, 16, ["ste", "rotation_trick", "fsq"], regime, n_seeds=2, batch_size=8).final.set_index(["method", "seed"])
    for mt in ("ste", "fsq"):
        alone = realconv.train(data, 16, [mt], regime, n_seeds=2, batch_size=8).final.set_index(["method", "seed"])
        assert np.allclose(alone.recon_mse, both.loc[alone.index].recon_mse, rtol=1e-5)


def test_authors_replacement_runs_inside_training():
    """DiVeQ's codebook starts at uniform [0, 1/K): most codes are never picked, so the first check replaces them."""
    data = _tiny_crops()
    regime = replace(regimes.get("seeds-budget"), steps=10)
    calls = []
    original = published.UsageReplacement.step

    def spy(self, codebook, step):
        mask = original(self, codebook, step)
        calls.append((self.rule, step, int(mask.sum())))
        return mask

    published.UsageReplacement.step = spy
    try:
        realconv.train(data, 64, ["ste", "diveq", "nsvq"], regime, n_seeds=1, batch_size=8, replace_every=5)
    finally:
        published.UsageReplacement.step = original
    replaced = {(rule, step): n for rule, step, n in calls if n}
    assert replaced.get(("diveq", 5), 0) > 0 and all(step % 5 == 0 for _, step in replaced)


@pytest.mark.parametrize("call, words", [
    (lambda: _model(["ste", "vqgan"]), "methods must be among"),
    (lambda: _model(["ste", "fsq"]), "an FSQ model has every slice 'fsq'"),
    (lambda: realconv.train(_tiny_crops(), 48, ["fsq"], regimes.get("seeds-budget")), "power of two"),
    (lambda: realconv.train(_tiny_crops(), 16, ["ste", "lbg"], regimes.get("seeds-budget")), "methods must be among"),
    (lambda: realconv.train(_tiny_crops(), 16, ["ste"], regimes.get("seeds-budget"), n_seeds=0), "n_seeds must be an integer"),
    (lambda: realconv.train(_tiny_crops(), 16, ["ste"], regimes.get("seeds-budget"), replace_every=0), "replace_every must be an integer"),
    (lambda: realconv.train(_tiny_crops(), 16, ["ste"], regimes.get("seeds-budget"), device="gpu"), "device must be one of"),
    (lambda: images.crops("wheels-v2"), "split must be one of"),
    (lambda: images.load("skimage:nosuch"), "no image 'nosuch'"),
])
def test_bad_inputs_fail_before_training(call, words):
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    assert words in str(err.value) and "\n" not in str(err.value)


def test_study_tasks_and_tables(monkeypatch):
    from vqlib.studies import realconv as study

    p = {"conv_seeds": 2, "seed": 0, "conv_K_list": [16, 64], "conv_methods": ["ste", "simvq", "fsq"], "conv_regimes": ["seeds-budget", "ema"],
         "conv_batch": 8, "conv_hidden": 4, "conv_m": 8, "conv_split": "wheels-v1", "conv_cap": 3000, "conv_converged_K": [64],
         "conv_converged_methods": ["ste", "simvq", "fsq"]}
    tasks = study.tasks(p)
    assert [(t["regime"], t["K"]) for t in tasks] == [("seeds-budget", 16), ("seeds-budget", 64), ("ema", 16), ("ema", 64)]
    converged = study.tasks({**p, "conv_regimes": ["converged", "ema"]})
    assert [(t["regime"], t["K"], t.get("conv_cap"), t["conv_methods"]) for t in converged] == [
        ("converged", 64, 3000, ["ste"]), ("converged", 64, 3000, ["simvq"]), ("converged", 64, 3000, ["fsq"]),
        ("ema", 16, None, p["conv_methods"]), ("ema", 64, None, p["conv_methods"])]
    monkeypatch.setattr(study.images, "crops", lambda *a: _tiny_crops())
    monkeypatch.setattr(study.regimes, "get", lambda name: replace(regimes.REGIMES[name], steps=3))
    out = study.compute(tasks[2], torch.device("cpu"))
    assert list(out["final"].method) == ["ste", "ste"] and sorted(out["dropped"].method) == ["fsq", "simvq"]
    out = study.compute(tasks[0], torch.device("cpu"))
    assert sorted(out["final"].method.unique()) == ["fsq", "simvq", "ste"] and (out["final"].bpp_fixed == 4 / 16).all()
    from vqlib.analysis import realconv as analysis

    shown, numbers = analysis.method_table(out["final"], "seeds-budget", 16)
    assert list(shown.method) == ["STE", "SimVQ (authors)", "FSQ"] and "rate, index entropy (bits/pixel)" in shown
    ste = out["final"][out["final"].method == "ste"]
    assert numbers.psnr_db_mean[0] == pytest.approx(ste.psnr_db.mean())
    with pytest.raises(ValueError, match="no convolutional runs at regime = 'ema', K = 16"):
        analysis.method_table(out["final"], "ema", 16)
    frame = analysis.claim_frame(out["final"])
    assert np.allclose(frame.dead_pct, 100 * frame.dead_codes / 16) and np.allclose(np.log2(frame.perplexity), frame.entropy_bits)
    from vqlib import claims

    outcome = claims.evaluate(claims.get("realconv-estimator-matters"), frame.assign(K=256))  # simvq ran; the others did not
    assert len(outcome.cases) == 1 and outcome.cases[0][0].startswith("K = 256, simvq")


@pytest.mark.parametrize("over, words", [
    ({"conv_methods": ["ste", "vqgan"]}, "conv_methods[1] must be one of"),
    ({"conv_K_list": [48], "conv_methods": ["ste", "fsq"]}, "must be a power of two when conv_methods has 'fsq'"),
    ({"conv_K_list": [2]}, "conv_K_list[0] must be an integer in [4, 4096]"),
    ({"conv_split": "all"}, "conv_split must be one of"),
    ({"conv_seeds": 0}, "conv_seeds must be an integer in [1"),
    ({"conv_regimes": ["seeds-budget", "cosine"]}, "conv_regimes[1] must be one of"),
    ({"conv_converged_K": [48], "conv_methods": ["ste", "fsq"]}, "conv_converged_K[0] must be a power of two"),
    ({"conv_cap": 1000}, "conv_cap must be an integer in [2500"),
])
def test_bad_study_parameters_fail_in_the_check(over, words):
    from vqlib import params

    with pytest.raises((ValueError, TypeError)) as err:
        params.check(over)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_converging_regime_stops_each_slice_on_validation_crops():
    """Under a converging regime each slice records where it stopped and whether the rule stopped it: with nothing
    to learn (learning rates 0) every slice meets the rule at its first check (a whole window in, and not before the budget) and the
    run ends there; a fixed budget runs to its end with no slice stopped by a rule."""
    data = _tiny_crops()
    still = replace(regimes.get("converged"), steps=4000, lr=0.0, codebook_lr=0.0)
    run = realconv.train(data, 16, ["ste", "rotation_trick"], still, n_seeds=2, batch_size=8, n_val=64)
    first_check = max(regimes.BASE_STEPS, regimes.CONVERGE_WINDOW)  # the first check with a whole window behind it
    assert run.final.met_rule.all() and (run.final.stop_step == first_check).all()
    budget = realconv.train(data, 16, ["ste"], replace(regimes.get("seeds-budget"), steps=3), n_seeds=1, batch_size=8)
    assert (budget.final.step == 3).all() and not {"stop_step", "met_rule"} & set(budget.final.columns)
