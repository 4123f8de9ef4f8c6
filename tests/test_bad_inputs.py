"""Bad input fails fast, with a message that names the parameter and says what is allowed.

One table for the library (each call raises before any real work) and one for the rerun command
(`python -m vqlib.run`: exit status 2, the message on stderr, nothing executed and nothing written).
"""

import math

import pytest
import torch

from vqlib import data, estimators, init, params, quantize, run, stats
from vqlib.checks import resolve_device
from vqlib.models import LinearVQ
from vqlib.runner import chapters
from vqlib.studies import common
from vqlib.train import train

CHAPTER = chapters.ROOT / "book" / "testbed.md"
INIT_CHAPTER = chapters.ROOT / "book" / "initialization.md"


def _init_check(**over):
    """params.check on the initialization chapter's defaults with `over` changed (as `vqlib.run -p` checks them)."""
    defaults = chapters.chapter_defaults(chapters.read_chapter(INIT_CHAPTER))
    return params.check({**defaults, **over}, allowed=set(defaults))


def _x(S=2, N=10, m=3, nan=False):
    x = torch.randn(S, N, m, generator=torch.Generator().manual_seed(0))
    if nan:
        x[0, 3, 1] = math.nan
    return x


def _model(S=2, D=6, m=3, K=4):
    enc = torch.eye(D)[:m].expand(S, m, D).clone()
    return LinearVQ(enc, torch.zeros(S, K, m), enc.transpose(1, 2), "ste")


def _train(**kw):
    args = dict(model=_model(), x_train=_x(m=6), x_eval=_x(m=6), steps=3)
    args.update(kw)
    return train(**args)


# (id, call, exception type, words the message must contain: the parameter, and what is allowed)
LIBRARY = [
    ("unknown-name-in-notebook", lambda: params.check_namespace({"seeds": 5, "Kay": 3}), ValueError, ["'Kay'", "allowed parameters", "'K'"]),
    ("unknown-name-in-check", lambda: params.check({"stpes": 3}), ValueError, ["'stpes'", "allowed parameters"]),
    ("wrong-type-K", lambda: params.check({"K": "eight"}), TypeError, ["K must be an integer", "str"]),
    ("wrong-type-bool-for-int", lambda: params.check({"seeds": True}), TypeError, ["seeds must be an integer"]),
    ("wrong-type-list", lambda: params.check({"K_list": 8}), TypeError, ["K_list must be a list"]),
    ("K-zero", lambda: params.check({"K": 0}), ValueError, ["K must be an integer in [1, inf]", "got 0"]),
    ("K-zero-uniform-init", lambda: init.uniform(2, 0, 3), ValueError, ["K must be an integer in [1, inf]"]),
    ("K-above-training-set-kmeans", lambda: init.kmeans(_x(N=10), 20), ValueError, ["K must be an integer in [1, 10]", "got 20"]),
    ("K-above-n_train-params", lambda: params.check({"K": 500, "n_train": 400, "kmeans_iters": 5}), ValueError, ["K must be at most n_train = 400", "got K = 500"]),
    ("m-above-D-params", lambda: params.check({"D": 4, "m": 8}), ValueError, ["m (the latent dimension) must be at most D = 4", "got m = 8"]),
    ("m-above-D-testbed", lambda: common.testbed_data(2, 4, 8, 0.1, 4.0, 0.5, 100, 100, 0, torch.device("cpu")), ValueError, ["m (the latent dimension", "at most D"]),
    ("m-above-D-pca", lambda: init.pca(_x(m=3), 5), ValueError, ["m must be an integer in [1, 3]"]),
    ("beta-negative", lambda: _train(beta=-0.5), ValueError, ["beta must be a finite number in [0.0, inf]", "-0.5"]),
    ("steps-zero", lambda: _train(steps=0), ValueError, ["steps must be an integer in [1, inf]"]),
    ("lr-zero", lambda: _train(lr=0.0), ValueError, ["lr must be a finite number in (0.0, inf]"]),
    ("seeds-zero-params", lambda: params.check({"seeds": 0}), ValueError, ["seeds must be an integer in [1, 1000]"]),
    ("seeds-zero-data", lambda: data.linear_gaussian(0, 8, data.spectrum(2), 0.1, 10, 10), ValueError, ["n_seeds must be an integer in [1, inf]"]),
    ("sigma-negative", lambda: data.linear_gaussian(1, 8, data.spectrum(2), -0.1, 10, 10), ValueError, ["sigma must be a finite number in [0.0, inf]"]),
    ("sigma-nan", lambda: params.check({"sigma": math.nan}), ValueError, ["sigma must be a finite number", "nan"]),
    ("decay-above-one", lambda: data.spectrum(4, 4.0, 1.5), ValueError, ["decay must be a finite number in (0.0, 1.0]"]),
    ("non-finite-kmeans-data", lambda: init.kmeans(_x(nan=True), 2), ValueError, ["x must hold only finite values"]),
    ("non-finite-training-data", lambda: _train(x_train=_x(m=6, nan=True)), ValueError, ["x_train must hold only finite values"]),
    ("non-finite-seed-values", lambda: stats.mean_ci([1.0, math.inf, 2.0]), ValueError, ["values must be", "finite"]),
    ("mismatched-z-q", lambda: estimators.rotation_trick(torch.zeros(2, 3), torch.zeros(2, 4)), ValueError, ["z and q must have the same shape", "(2, 3)", "(2, 4)"]),
    ("mismatched-codebook-width", lambda: quantize.sq_distances(torch.zeros(5, 3), torch.zeros(4, 2)), ValueError, ["vectors of size 3", "codes have size 2"]),
    ("mismatched-codebook-seeds", lambda: LinearVQ(torch.zeros(2, 3, 6), torch.zeros(3, 4, 3), torch.zeros(2, 6, 3)), ValueError, ["codebook must have shape (S=2, K, m=3)", "(3, 4, 3)"]),
    ("mismatched-data-width", lambda: _train(x_train=_x(m=5)), ValueError, ["x_train must have shape (S=2, N, D=6)", "(2, 10, 5)"]),
    ("mismatched-paired-seeds", lambda: stats.paired([1.0, 2.0], [1.0, 2.0, 3.0]), ValueError, ["one value per seed", "2 and 3"]),
    ("unknown-estimator", lambda: estimators.get_estimator("rotation"), ValueError, ["estimator must be one of", "'rotation_trick'", "'rotation'"]),
    ("unknown-estimator-model", lambda: LinearVQ(torch.zeros(1, 3, 6), torch.zeros(1, 4, 3), torch.zeros(1, 6, 3), "stee"), ValueError, ["estimator must be one of", "'stee'"]),
    ("unknown-initializer", lambda: init.codebook("pca", _x(), 2), ValueError, ["init must be one of", "'kmeans'", "'pca'"]),
    ("unknown-initializer-params", lambda: params.check({"inits": ["uniform", "rd"]}), ValueError, ["inits[1] must be one of", "'rd'"]),
    ("unknown-device", lambda: resolve_device("tpu"), ValueError, ["device must be one of", "'cuda'", "'tpu'"]),
    ("unknown-device-params", lambda: params.check({"device": "gpu"}), ValueError, ["device must be one of", "'auto'"]),
    ("duplicate-in-list", lambda: params.check({"K_list": [8, 16, 8]}), ValueError, ["K_list must not repeat an item", "[8] repeated"]),
    ("duplicate-estimator", lambda: params.check({"estimators": ["ste", "ste"]}), ValueError, ["estimators must not repeat an item", "'ste'"]),
    ("data-cannot-fit", lambda: params.check({"seeds": 1000, "n_train": 10**7, "D": 64}), ValueError,
     ["seeds (1000) × n_train (10000000) × D (64) needs about", "half of this machine's memory", "lower n_train, D or seeds"]),
    ("distances-cannot-fit", lambda: params.check({"seeds": 100, "n_train": 10**6, "K_list": [16, 10**5]}), ValueError,
     ["K_list (100000)", "lower n_train, K_list or seeds"]),
    ("rd-levels-missing-published", lambda: params.check({"n_levels_list": [1, 2, 4, 8]}), ValueError, ["n_levels_list must include 8, 16 and 32", "[16, 32]"]),
    ("rd-dims-without-1", lambda: params.check({"n_levels_list": [8, 16, 32], "dims": [2, 4], "K_list": [4]}), ValueError, ["dims must include 1", "[2, 4]"]),
    ("rd-no-one-bit-K", lambda: params.check({"n_levels_list": [8, 16, 32], "dims": [1, 2], "K_list": [8, 16]}), ValueError, ["K_list must hold 2**d for some d in dims", "[8, 16]"]),
    ("cost-one-seed", lambda: params.check({"B_list": [1024], "seeds": 1}), ValueError, ["seeds must be at least 2", "got seeds = 1"]),
    ("lr-nan", lambda: params.check({"lr": math.nan}), ValueError, ["lr must be a finite number in (0.0, inf]", "nan"]),
    ("geometry-estimators-missing", lambda: params.check({"K_2d": 4, "estimators": ["ste", "rotation_trick"]}), ValueError,
     ["estimators must include ste, projection, rotation_trick", "missing ['projection']"]),
    ("K_2d-above-n_train", lambda: params.check({"K_2d": 50, "n_train": 20}), ValueError, ["K_2d must be at most n_train = 20", "got K_2d = 50"]),
    ("geometry-dims-below-two", lambda: params.check({"K_2d": 4, "dims": [2, 1]}), ValueError, ["dims[1] must be at least 2", "got 1"]),
    ("realdata-claims-need-projection", lambda: params.check({"real_methods": ["ste", "rotation_trick"]}), ValueError,
     ["real_methods must include 'ste' and 'projection'", "['projection']"]),
    ("realdata-K_list-above-lbg_vectors", lambda: params.check({"K_list": [16, 512], "lbg_vectors": 256}), ValueError,
     ["K_list[1] must be at most lbg_vectors = 256", "got 512"]),
    ("realdata-regime-not-plain", lambda: params.check({"regime_names": ["seeds-budget", "cosine"]}), ValueError,
     ["regime_names[1] must be one of", "(the MLP model's codebook is plain), got 'cosine'"]),
    ("realdata-curve-regime-not-plain", lambda: params.check({"curve_regime": "affine"}), ValueError,
     ["curve_regime must be one of", "got 'affine'"]),
    ("realdata-K-above-init_vectors", lambda: params.check({"K": 64, "inits": ["kmeans"], "init_vectors": 32}), ValueError,
     ["K must be at most init_vectors = 32", "got K = 64"]),
    ("methods-without-ste", lambda: params.check({"K": 32, "methods": ["projection", "restart"], "regimes": ["ema"]}), ValueError,
     ["methods must include 'ste', 'projection'", "without 'ste'"]),
    ("K-sweep-without-rotation-trick", lambda: params.check({"K_list": [8, 64], "methods": ["ste", "projection"], "regimes": ["ema"]}),
     ValueError, ["methods must include 'ste', 'projection', 'rotation_trick'", "without 'rotation_trick'"]),
    ("init-K-not-in-K_list", lambda: _init_check(K=48), ValueError, ["K (48) must be one of K_list [8, 32, 64]"]),
    ("init-beta-not-in-beta_list", lambda: _init_check(beta=0.3), ValueError, ["beta (0.3) must be one of beta_list"]),
    ("init-inits-missing-rd", lambda: _init_check(inits=["uniform", "kmeans"]), ValueError, ["inits must include ['rd_optimal']"]),
    ("init-regimes-without-seeds-budget", lambda: _init_check(regimes=["ema", "sgd"]), ValueError, ["regimes must include 'seeds-budget'"]),
    ("init-spectra-without-geometric", lambda: _init_check(spectra=["flat"]), ValueError, ["spectra must include 'geometric'"]),
    ("init-n_curve-above-n_eval", lambda: _init_check(n_curve=500, n_eval=400), ValueError, ["n_curve must be at most n_eval = 400", "got n_curve = 500"]),
    ("claim-methods-commitment-noise", lambda: params.check({"collapse_scale": 0.01, "regimes": ["ema"], "methods": ["ste", "rotation_trick"]}),
     ValueError, ["methods must include 'ste', 'projection'", "without 'projection'"]),
    ("cosine-with-restart", lambda: params.check({"K": 32, "methods": ["ste", "projection", "restart"], "regimes": ["seeds-budget", "cosine"]}),
     ValueError, ["reparameterize the codebook", "restart"]),
    ("cosine-converged-in-initialization", lambda: params.check({"spectra": ["geometric"], "regimes": ["seeds-budget", "converged-cosine"]}),
     ValueError, ["regimes[1] must be one of", "plain codes only", "got 'converged-cosine'"]),
    ("unknown-regime-ema-dat", lambda: params.check({"regimes": ["ema-dat"]}), ValueError, ["ema-data"]),
    ("claim-methods-convergence", lambda: params.check({"K_list": [16], "regimes": ["ema"], "methods": ["projection", "rotation_trick"]}),
     ValueError, ["methods must include 'ste', 'projection', 'rotation_trick'", "without 'ste'"]),
]


@pytest.mark.parametrize("call,exc,needles", [c[1:] for c in LIBRARY], ids=[c[0] for c in LIBRARY])
def test_library_rejects_bad_input_by_name(call, exc, needles):
    with pytest.raises(exc) as info:
        call()
    for needle in needles:
        assert needle in str(info.value), f"{needle!r} not in {str(info.value)!r}"


def test_cuda_asked_for_without_cuda_names_the_alternatives():
    if torch.cuda.is_available():  # a machine with CUDA accepts it: the check is then that it resolves
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(ValueError, match="device 'cuda' was asked for but no CUDA device is available; use 'cpu' or 'auto'"):
            resolve_device("cuda")


def _file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# (id, arguments given after the chapter (a callable of tmp_path), words the message must contain)
COMMAND = [
    ("unknown-parameter", lambda t: ["-p", "Kay", "8"], ["unknown parameter(s) ['Kay']", "allowed parameters", "'K'"]),
    ("unknown-parameter-in-file", lambda t: ["-f", _file(t, "p.yaml", "steps: 5\nstpes: 3\n")], ["['stpes']", "allowed parameters"]),
    ("wrong-type", lambda t: ["-p", "K", "eight"], ["K must be an integer", "str 'eight'"]),
    ("wrong-type-float-for-int", lambda t: ["-p", "steps", "2.5"], ["steps must be an integer", "float 2.5"]),
    ("wrong-type-list", lambda t: ["-p", "estimators", "ste"], ["estimators must be a list"]),
    ("K-zero", lambda t: ["-p", "K", "0"], ["K must be an integer in [1, inf]"]),
    ("K-negative", lambda t: ["-p", "K", "-4"], ["K must be an integer in [1, inf]", "-4"]),
    ("K-above-n_train", lambda t: ["-p", "K", "512", "-p", "n_train", "300"], ["K must be at most n_train = 300", "got K = 512"]),
    ("m-above-D", lambda t: ["-p", "m", "128"], ["m (the latent dimension) must be at most D = 64", "got m = 128"]),
    ("beta-negative", lambda t: ["-p", "beta", "-0.25"], ["beta must be a finite number in [0.0, inf]"]),
    ("steps-zero", lambda t: ["-p", "steps", "0"], ["steps must be an integer in [1, inf]"]),
    ("seeds-zero", lambda t: ["-p", "seeds", "0"], ["seeds must be an integer in [1, 1000]"]),
    ("sigma-negative", lambda t: ["-p", "sigma", "-0.1"], ["sigma must be a finite number in [0.0, inf]"]),
    ("sigma-not-finite", lambda t: ["-p", "sigma", ".nan"], ["sigma must be a finite number", "nan"]),
    ("lr-infinite", lambda t: ["-p", "lr", ".inf"], ["lr must be a finite number in (0.0, inf]"]),
    ("unknown-estimator", lambda t: ["-p", "estimators", "[ste, rotation]"], ["estimators[1] must be one of", "'rotation_trick'"]),
    ("unknown-device", lambda t: ["-p", "device", "tpu"], ["device must be one of ['auto', 'cpu', 'cuda']", "'tpu'"]),
    ("value-not-yaml", lambda t: ["-p", "K", "[8"], ["cannot read value '[8'"]),
    ("lr-nan-as-typed", lambda t: ["-p", "lr", "nan"], ["lr must be a finite number in (0.0, inf]", "nan"]),
    ("sigma-inf-as-typed", lambda t: ["-p", "sigma", "inf"], ["sigma must be a finite number", "inf"]),
    ("steps-scientific-not-integral", lambda t: ["-p", "steps", "2.55e1"], ["steps must be an integer", "float 25.5"]),
    ("duplicate-estimator", lambda t: ["-p", "estimators", "[ste, ste]"], ["estimators must not repeat an item", "'ste'"]),
    ("batch-cannot-fit", lambda t: ["-p", "batch_size", "5e8"], ["batch_size (500000000)", "half of this machine's memory", "lower batch_size"]),
    ("n-train-cannot-fit", lambda t: ["-p", "n_train", "1e9"], ["n_train (1000000000)", "half of this machine's memory"]),
    ("params-file-not-yaml", lambda t: ["-f", _file(t, "p.yaml", "K: [8, 16\n")], ["params file", "is not valid YAML"]),
    ("params-file-not-a-mapping", lambda t: ["-f", _file(t, "p.yaml", "- K\n- 8\n")], ["must hold a mapping of parameter: value", "list"]),
    ("params-file-missing", lambda t: ["-f", str(t / "missing.yaml")], ["params file", "missing.yaml", "does not exist"]),
    ("runs-dir-in-book", lambda t: ["--runs-dir", str(chapters.ROOT / "book" / "runs")], ["--runs-dir must not be inside book/", "runs/"]),
    ("runs-dir-in-build", lambda t: ["--runs-dir", str(chapters.ROOT / "_build")], ["--runs-dir must not be inside _build/"]),
    ("runs-dir-is-a-file", lambda t: ["--runs-dir", _file(t, "afile", "x")], ["--runs-dir", "is a file; it must be a folder"]),
]


@pytest.fixture
def no_execution(monkeypatch):
    """Fail the test if anything would be executed: bad input must be caught before the kernel starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("a chapter was executed despite bad input")

    monkeypatch.setattr(chapters, "execute", refuse)


def _assert_refused(argv: list[str], runs, capsys, needles: list[str]) -> None:
    """The command exits 2 with one 'error: ' message holding every needle, and leaves runs/ empty."""
    assert run.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("args", [c[1] for c in COMMAND], ids=[c[0] for c in COMMAND])
def test_rerun_command_rejects_bad_input_before_executing(tmp_path, capsys, no_execution, args, request):
    needles = dict((c[0], c[2]) for c in COMMAND)[request.node.callspec.id]
    runs = tmp_path / "runs"
    argv = [str(CHAPTER), *args(tmp_path)]
    if "--runs-dir" not in argv:
        argv += ["--runs-dir", str(runs)]
    _assert_refused(argv, runs, capsys, needles)
    assert not (chapters.ROOT / "book" / "runs").exists()


# The initialization chapter's cross-parameter rules, through the rerun command: refused before any kernel starts.
INIT_COMMAND = [
    ("init-K-not-in-K_list", ["-p", "K", "48"], ["K (48) must be one of K_list [8, 32, 64]"]),
    ("init-inits-missing", ["-f", "inits.yaml"], ["inits must include ['rd_optimal']"]),
    ("init-beta-not-in-beta_list", ["-p", "beta", "0.3"], ["beta (0.3) must be one of beta_list"]),
    ("init-cosine-regime", ["-f", "cosine.yaml"], ["regimes[1] must be one of", "plain codes only", "got 'cosine'"]),
]


@pytest.mark.parametrize("args,needles", [c[1:] for c in INIT_COMMAND], ids=[c[0] for c in INIT_COMMAND])
def test_rerun_command_rejects_initialization_rules_before_executing(tmp_path, capsys, no_execution, args, needles):
    (tmp_path / "inits.yaml").write_text("inits: [uniform, kmeans]\n")
    (tmp_path / "cosine.yaml").write_text("regimes: [seeds-budget, cosine]\n")
    runs = tmp_path / "runs"
    argv = [str(INIT_CHAPTER), *[str(tmp_path / a) if a.endswith(".yaml") else a for a in args], "--runs-dir", str(runs)]
    _assert_refused(argv, runs, capsys, needles)


@pytest.mark.parametrize(
    "argv,needles",
    [
        (["book/nope.md"], ["chapter 'book/nope.md' does not exist", "chapters: book/testbed.md"]),
        (["book/testbed.ipynb"], ["chapter must be the MyST .md file", "testbed.ipynb"]),
        (["--canonical", "book/nope.md"], ["chapter 'book/nope.md' does not exist", "chapters:"]),
    ],
    ids=["chapter-missing", "chapter-is-the-notebook", "canonical-chapter-missing"],
)
def test_bad_chapter_path(tmp_path, capsys, no_execution, argv, needles, monkeypatch):
    monkeypatch.chdir(chapters.ROOT)
    assert run.main([*argv, "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"


def test_output_folder_holding_another_run_is_refused_and_kept(tmp_path, capsys, no_execution):
    full = chapters.resolve_params(chapters.chapter_defaults(chapters.read_chapter(CHAPTER)), {"K": 16})
    folder = tmp_path / f"testbed-{chapters.params_hash(full)}"
    folder.mkdir()
    (folder / "params.yaml").write_text("K: 3\n")
    (folder / "result.csv").write_text("precious\n")
    assert run.main([str(CHAPTER), "-p", "K", "16", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already holds a different run" in err and "remove it or choose other parameters" in err
    assert (folder / "params.yaml").read_text() == "K: 3\n" and (folder / "result.csv").read_text() == "precious\n"


@pytest.mark.parametrize("typed,value", [("1e-3", 0.001), ("5e4", 50000.0), ("1.5E+2", 150.0), ("64", 64), ("[1e-3, 2e-3]", [0.001, 0.002]),
                                         ("nan", math.nan), ("-inf", -math.inf), ("cpu", "cpu"), ("'1e-3'", "1e-3")])
def test_values_are_read_as_people_type_them(typed, value):
    got = chapters.parse_value(typed)
    assert type(got) is type(value)
    assert got == value or (isinstance(got, float) and math.isnan(got) and math.isnan(value))


def test_scientific_notation_reaches_the_chapter_as_a_number(tmp_path, monkeypatch):
    """`-p lr 1e-3` and `-p n_train 5e3` are accepted and handed to the chapter as a float and an int."""
    seen = {}
    monkeypatch.setattr(chapters, "execute", lambda nb, out, parameters, *a: seen.update(parameters) or (_ for _ in ()).throw(KeyboardInterrupt()))
    assert run.main([str(CHAPTER), "-p", "lr", "1e-3", "-p", "n_train", "5e3", "--runs-dir", str(tmp_path / "runs")]) == 130
    assert seen["lr"] == 0.001 and isinstance(seen["lr"], float)
    assert seen["n_train"] == 5000 and isinstance(seen["n_train"], int)


def test_table_has_at_least_twenty_cases():
    assert len(LIBRARY) + len(COMMAND) >= 20 and len(COMMAND) >= 20


def test_papermill_alone_would_only_warn_but_the_chapter_fails_on_an_unknown_name(tmp_path):
    """Executing the chapter with papermill directly (bypassing the command's check): check_namespace stops it."""
    import papermill

    with pytest.raises(papermill.PapermillExecutionError) as info:
        papermill.execute_notebook(
            chapters.read_chapter(CHAPTER), str(tmp_path / "out.ipynb"), parameters={"Kay": 8},
            kernel_name="python3", cwd=str(CHAPTER.parent), progress_bar=False,
        )
    assert "unknown parameter 'Kay'" in str(info.value) and "allowed parameters" in str(info.value)
    assert info.value.exec_count <= 3  # stopped at the check, right after the parameters
