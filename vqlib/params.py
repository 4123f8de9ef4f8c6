"""Chapter parameters: one registry of every knob a chapter may expose, with its type and allowed range.

A chapter's first code cell (tagged `parameters`) assigns its knobs; the next cell calls
:func:`check_namespace` so a bad value stops the run at once, naming the parameter and what is allowed.
The command line (:mod:`vqlib.run`) also checks names against the chapter's own parameters cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from vqlib.checks import check_choice, check_float, check_int
from vqlib.estimators import ESTIMATORS


@dataclass(frozen=True)
class Spec:
    """What a parameter accepts: a checker that returns the (normalised) value or raises."""

    check: Callable[[str, Any], Any]
    help: str


def _int(low: int | None = None, high: int | None = None):
    """An integer parameter; an integral float such as 5e4 (how people type large counts) is read as that integer."""
    return lambda name, v: check_int(name, int(v) if isinstance(v, float) and v.is_integer() else v, low, high)


def _float(low: float | None = None, high: float | None = None, strict_low: bool = False):
    return lambda name, v: check_float(name, v, low, high, strict_low)


def _choice(options: Callable[[], list[str]]):
    return lambda name, v: check_choice(name, v, options())


def _list(item: Callable[[str, Any], Any], min_len: int = 1):
    def check(name: str, v: Any) -> list:
        if not isinstance(v, (list, tuple)) or len(v) < min_len:
            raise TypeError(f"{name} must be a list of at least {min_len} item(s), got {v!r}")
        out = [item(f"{name}[{i}]", x) for i, x in enumerate(v)]
        repeated = sorted({x for x in out if out.count(x) > 1}, key=str)
        if repeated:
            raise ValueError(f"{name} must not repeat an item (each is one setting of the sweep), got {v!r} with {repeated} repeated")
        return out

    return check


def _device(name: str, v: Any) -> str:
    """'auto', 'cpu' or 'cuda'; 'cuda' only where a CUDA device is present (checked before any kernel starts)."""
    from vqlib.checks import resolve_device

    check_choice(name, v, ["auto", "cpu", "cuda"])
    resolve_device(v)
    return v


def _bool(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"{name} must be true or false, got {type(v).__name__} {v!r}")
    return v


def _methods() -> list[str]:
    from vqlib.grid import METHODS

    return sorted(METHODS)


def _regimes() -> list[str]:
    from vqlib.regimes import REGIMES

    return sorted(REGIMES)


def _initializers() -> list[str]:
    from vqlib.init import INITIALIZERS

    return sorted(INITIALIZERS)


SPECS: dict[str, Spec] = {
    "seeds": Spec(_int(1, 1000), "number of independent seeds (each: new data, subspace, init, batches)"),
    "seed": Spec(_int(0), "base random seed"),
    "D": Spec(_int(1), "ambient data dimension"),
    "m": Spec(_int(1), "latent (code vector) dimension"),
    "K": Spec(_int(1), "codebook size"),
    "K_list": Spec(_list(_int(1)), "codebook sizes to sweep"),
    "steps": Spec(_int(1), "training steps"),
    "cap_factor": Spec(_int(0), "cap of a converging regime's per-slice stop rule as a multiple of steps (0: the regime's own, 40)"),
    "batch_size": Spec(_int(1), "minibatch size"),
    "lr": Spec(_float(0.0, strict_low=True), "Adam learning rate"),
    "beta": Spec(_float(0.0), "commitment weight β"),
    "beta_list": Spec(_list(_float(0.0)), "commitment weights to sweep"),
    "sigma": Spec(_float(0.0), "isotropic noise std σ"),
    "sigma_list": Spec(_list(_float(0.0)), "noise levels to sweep"),
    "lambda_1": Spec(_float(0.0, strict_low=True), "largest latent variance λ₁"),
    "decay": Spec(_float(0.0, 1.0, strict_low=True), "spectrum ratio: λ_i = λ₁ · decay^(i−1)"),
    "n_train": Spec(_int(1), "training vectors per seed"),
    "n_eval": Spec(_int(1), "held-out evaluation vectors per seed"),
    "eval_every": Spec(_int(0), "evaluate every this many steps (0: start and end only)"),
    "kmeans_iters": Spec(_int(0), "Lloyd iterations after k-means++ seeding"),
    "device": Spec(_device, "where tensors live ('auto': CUDA when present; 'cuda' only on a machine with CUDA)"),
    "estimator": Spec(_choice(lambda: sorted(ESTIMATORS)), "gradient estimator"),
    "estimators": Spec(_list(_choice(lambda: sorted(ESTIMATORS))), "gradient estimators to compare"),
    "init": Spec(_choice(_initializers), "codebook initializer"),
    "inits": Spec(_list(_choice(_initializers)), "codebook initializers to compare"),
    "learn_encoder": Spec(_bool, "train the encoder (false: fixed PCA encoder)"),
    "B_list": Spec(_list(_int(1)), "batch sizes (vectors per step) to time"),
    "m_list": Spec(_list(_int(1)), "code vector dimensions to time"),
    "rounds": Spec(_int(1), "timing rounds: each times every method once, in turn"),
    "scale_list": Spec(_list(_float(0.0, strict_low=True)), "uniform-init half-widths to sweep, in units of the latent's RMS std"),
    "n_curve": Spec(_int(1), "held-out vectors per seed for the learned-encoder learning curves (tables use all n_eval)"),
    "methods": Spec(_list(_choice(_methods)), "training methods to compare: gradient estimators, or 'restart' (STE + dead-code restart)"),
    "restart_window": Spec(_int(1), "dead-code restart: re-seed a code no batch vector picked for this many steps"),
    "timing_steps": Spec(_int(1), "training steps per timing run"),
    "timing_repeats": Spec(_int(1), "timing runs per method (interleaved)"),
    "n_clusters": Spec(_int(1), "clusters of the Gaussian mixture"),
    "center_scale": Spec(_float(0.0), "std of the mixture's cluster centres (latent coordinates)"),
    "cluster_std": Spec(_float(0.0, strict_low=True), "std of each mixture cluster (latent coordinates)"),
    "collapse_scale": Spec(_float(0.0, strict_low=True), "collapsed start: factor shrinking the initial encoder"),
    "lloyd_iters": Spec(_int(1), "Lloyd iterations when measuring the distance to a k-means fixed point"),
    "n_samples": Spec(_int(1), "Monte Carlo samples per seed"),
    "K_2d": Spec(_int(2), "codebook size of the 2-D experiments"),
    "snapshot_every": Spec(_int(1), "keep the codebook every this many training steps"),
    "grid_size": Spec(_int(2), "points per axis of a plotting grid"),
    "n_levels_list": Spec(_list(_int(1, 4096)), "numbers of levels N of scalar quantizers"),
    "max_rate_bits": Spec(_int(1, 12), "largest rate (bits per sample) drawn for scalar quantizers"),
    "dims": Spec(_list(_int(1)), "vector dimensions to sweep"),
    "code_dims": Spec(_list(_int(1, 16)), "dimensions k of the random-codebook and transform-coding study"),
    "code_K_list": Spec(_list(_int(2)), "codebook sizes of the random-codebook and transform-coding study"),
    "code_n_train": Spec(_int(2), "training vectors per seed for Lloyd in the random-codebook study"),
    "code_n_eval": Spec(_int(1), "fresh vectors per seed scoring the random-codebook study"),
    "restarts": Spec(_int(1, 100), "k-means restarts for the best codebook found (best of this many)"),
    "spectra": Spec(_list(_choice(lambda: ["geometric", "flat"])), "latent spectra: the testbed's geometric one, a flat one of equal total variance"),
    "n_check": Spec(_int(1), "random cases on which a derived formula is checked against autograd"),
    "regimes": Spec(_list(_choice(_regimes)), "training regimes (vqlib.regimes) in which the chapter trains and judges its claims"),
}

#: Names the Jupyter kernel itself puts in a notebook's namespace.
_KERNEL_NAMES = {"In", "Out", "exit", "quit", "get_ipython", "open"}


def check(params: dict[str, Any], allowed: set[str] | None = None) -> dict[str, Any]:
    """Check every parameter (name, type, range); return them normalised (ints accepted as floats)."""
    known = set(SPECS) if allowed is None else set(allowed)
    out = {}
    for name, value in params.items():
        if name not in known or name not in SPECS:
            raise ValueError(f"unknown parameter {name!r}; allowed parameters: {sorted(known & set(SPECS))}")
        out[name] = SPECS[name].check(name, value)
    check_consistent(out)
    check_fits(out)
    return out


def memory_bytes() -> int:
    """Physical memory of this machine in bytes."""
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


#: The largest tensors a chapter builds, as products of parameters (float32, 4 bytes per entry). A product is
#: checked when all its parameters are set; K stands for the largest of K and K_list.
_SIZES = [
    ("seeds", "n_train", "D"),  # training data
    ("seeds", "n_eval", "D"),  # held-out data
    ("seeds", "n_train", "K"),  # distances of every training vector to every code (k-means, assignment)
    ("seeds", "n_eval", "K"),  # distances at evaluation
    ("seeds", "batch_size", "K"),  # distances of a minibatch
    ("seeds", "batch_size", "D"),  # a minibatch
    ("seeds", "n_samples", "K"),  # Monte Carlo samples against a codebook
]
#: Head-room for temporaries, gradients and the several methods a chapter trains side by side.
_OVERHEAD = 8


def check_fits(params: dict[str, Any], available: int | None = None) -> None:
    """Fail before anything runs when a chapter's largest tensor cannot fit in half of this machine's memory."""
    values, label = dict(params), {}
    sizes = [("K", params["K"])] if "K" in params else []
    sizes += [("K_list", k) for k in params.get("K_list", [])]
    if sizes:
        label["K"], values["K"] = max(sizes, key=lambda s: s[1])
    limit = (memory_bytes() if available is None else available) // 2
    for names in _SIZES:
        if not all(n in values for n in names):
            continue
        need = 4 * _OVERHEAD
        for n in names:
            need *= values[n]
        if need > limit:
            named = [label.get(n, n) for n in names]
            product = " × ".join(f"{a} ({values[n]})" for a, n in zip(named, names))
            raise ValueError(
                f"{product} needs about {need / 2**30:.1f} GiB, more than half of this machine's memory "
                f"({2 * limit / 2**30:.1f} GiB); lower {', '.join(a for a in named if a != 'seeds')} or seeds"
            )


#: Initializers that pick codes from the training vectors, so they need K <= n_train.
_FROM_DATA = {"kmeans", "data_samples", "transform_coding"}


def check_consistent(params: dict[str, Any]) -> None:
    """Checks that involve two parameters (each already valid alone): m <= D, and K <= n_train for k-means."""
    if "m" in params and "D" in params and params["m"] > params["D"]:
        raise ValueError(f"m (the latent dimension) must be at most D = {params['D']}, got m = {params['m']}")
    if "code_n_train" in params:
        for i, k in enumerate(params.get("code_K_list", [])):
            if k > params["code_n_train"]:
                raise ValueError(f"code_K_list[{i}] must be at most code_n_train = {params['code_n_train']} "
                                 f"(data-sample codebooks pick codes from the training vectors), got {k}")
    if "K_2d" in params:  # the geometry chapter
        _check_geometry(params)
    _check_rate_distortion(params)
    if "B_list" in params and params.get("seeds", 2) < 2:  # the cost chapter: S seeds against one
        raise ValueError(f"seeds must be at least 2 (training S seeds at once is timed against one seed), got seeds = {params['seeds']}")
    if "spectra" in params:  # the initialization chapter (book/initialization.md): the parameter it alone has
        _check_initialization(params)
    inits = set(params.get("inits", [])) | ({params["init"]} if "init" in params else set())
    if "n_train" in params and ("kmeans_iters" in params or inits & _FROM_DATA):
        sizes = [("K", params["K"])] if "K" in params else []
        sizes += [(f"K_list[{i}]", k) for i, k in enumerate(params.get("K_list", []))]
        for name, k in sizes:
            if k > params["n_train"]:
                raise ValueError(
                    f"{name} must be at most n_train = {params['n_train']} (k-means and data-sample initialization "
                    f"pick codes from the training vectors), got {name} = {k}"
                )
    if "methods" in params and "regimes" in params:  # the estimator chapters: their claims are paired against STE
        needed = ["ste", "projection"] + (["rotation_trick"] if "K_list" in params else [])  # K sweeps also judge the rotation trick
        missing = [k for k in needed if k not in params["methods"]]
        if missing:
            raise ValueError(f"methods must include {', '.join(repr(k) for k in needed)} (the chapter's claims compare them on the "
                             f"same seeds), got {params['methods']} without {', '.join(repr(k) for k in missing)}")
    _check_regime_forms(params)
    _check_realdata(params)
    _check_realconv(params)


def _check_regime_forms(params: dict[str, Any]) -> None:
    """Regimes the trainer would refuse after the data are drawn: an affine or cosine codebook with the dead-code restart
    (it writes raw encoder outputs as codes)."""
    from vqlib.regimes import REGIMES

    names = [r for key in ("regimes", "regime_names") for r in params.get(key, []) if r in REGIMES]
    methods = [m for key in ("methods", "estimators") for m in params.get(key, [])]
    formed = [r for r in names if REGIMES[r].form != "plain"]
    if formed and "restart" in methods:
        raise ValueError(f"regimes {formed} reparameterize the codebook, which the dead-code restart cannot re-seed: "
                         f"leave 'restart' out of the methods or those regimes out")


#: The estimators the geometry chapter's readings compare (its claims set the seeds' estimator against STE, and the
#: rotation trick against STE).
GEOMETRY_ESTIMATORS = ("ste", "projection", "rotation_trick")


def _check_geometry(params: dict[str, Any]) -> None:
    """The geometry chapter's rules: its compared estimators present, K_2d codes from the training set, dims of at least 2."""
    if "estimators" in params and not set(GEOMETRY_ESTIMATORS) <= set(params["estimators"]):
        missing = [e for e in GEOMETRY_ESTIMATORS if e not in params["estimators"]]
        raise ValueError(f"estimators must include {', '.join(GEOMETRY_ESTIMATORS)} (the chapter compares them), missing {missing}")
    if "n_train" in params and params["K_2d"] > params["n_train"]:
        raise ValueError(f"K_2d must be at most n_train = {params['n_train']} (k-means picks codes from the training vectors), "
                         f"got K_2d = {params['K_2d']}")
    for i, d in enumerate(params.get("dims", [])):
        if d < 2:
            raise ValueError(f"dims[{i}] must be at least 2 (the law of the kept share κ needs m ≥ 2), got {d}")

def _check_rate_distortion(params: dict[str, Any]) -> None:
    """The rate-distortion chapter (the one with n_levels_list): what its tables and readings need."""
    if "n_levels_list" not in params:
        return
    missing = [n for n in (8, 16, 32) if n not in params["n_levels_list"]]
    if missing:
        raise ValueError(f"n_levels_list must include 8, 16 and 32 (compared with the published values), missing {missing}")
    if "dims" in params and 1 not in params["dims"]:
        raise ValueError(f"dims must include 1 (k-means is compared with Lloyd–Max in one dimension), got dims = {params['dims']}")
    if "dims" in params and "K_list" in params and not any(2**d in params["K_list"] for d in params["dims"]):
        raise ValueError(f"K_list must hold 2**d for some d in dims = {params['dims']} (one bit per dimension), "
                         f"got K_list = {params['K_list']}")



def _check_plain(named: list[tuple[str, str]], why: str) -> None:
    """Refuse a regime with an affine or cosine codebook where the model has plain codes only: (parameter, regime) pairs."""
    from vqlib.regimes import REGIMES

    for name, r in named:
        if r in REGIMES and REGIMES[r].form != "plain":
            plain = [n for n, g in REGIMES.items() if g.form == "plain"]
            raise ValueError(f"{name} must be one of {plain} ({why}), got {r!r}")


def _check_initialization(params: dict[str, Any]) -> None:
    """The initialization chapter's cross-parameter rules (each parameter given is already valid alone)."""
    if "seeds-budget" not in params.get("regimes", ["seeds-budget"]):
        raise ValueError(f"regimes must include 'seeds-budget' (the seeds' setting, which the dead-code and scale sections use), "
                         f"got {params['regimes']}")
    if "geometric" not in params["spectra"]:
        raise ValueError(f"spectra must include 'geometric' (the testbed's spectrum), got {params['spectra']}")
    _check_plain([(f"regimes[{i}]", r) for i, r in enumerate(params.get("regimes", []))], "the codebook-only training has plain codes only")
    if "K" in params and "K_list" in params and params["K"] not in params["K_list"]:
        raise ValueError(f"K ({params['K']}) must be one of K_list {params['K_list']}: the seeds' table is read at K")
    if "beta" in params and "beta_list" in params and params["beta"] not in params["beta_list"]:
        raise ValueError(f"beta ({params['beta']}) must be one of beta_list {params['beta_list']}: the β sweep compares against it")
    missing = sorted({"uniform", "kmeans", "rd_optimal"} - set(params.get("inits", ["uniform", "kmeans", "rd_optimal"])))
    if missing:
        raise ValueError(f"inits must include {missing} (the seeds' table compares uniform, kmeans and rd_optimal), got {params['inits']}")
    if "n_curve" in params and "n_eval" in params and params["n_curve"] > params["n_eval"]:
        raise ValueError(f"n_curve must be at most n_eval = {params['n_eval']} (the learning curves use the first n_curve "
                         f"held-out vectors), got n_curve = {params['n_curve']}")


def check_namespace(namespace: dict[str, Any]) -> dict[str, Any]:
    """Check the parameters a chapter's namespace holds right after its parameters cell (and papermill's).

    Every public plain-data name must be a known parameter: papermill only warns on an unknown name, we fail.
    """
    params = {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_") and k not in _KERNEL_NAMES and isinstance(v, (bool, int, float, str, list, tuple, type(None)))
    }
    checked = check(params)
    namespace.update(checked)
    return checked


# --- The real-data chapter (book/realdata.md) -------------------------------------------------------------


def _real_methods() -> list[str]:
    from vqlib.realdata import METHODS

    return sorted(METHODS)


def _check_realdata(params: dict[str, Any]) -> None:
    """The real-data chapter's rules: its claims compare STE with the projection; LBG and data-based codebook starts
    pick K codes among lbg_vectors and init_vectors training vectors; the MLP model's codebook is plain (no affine or
    cosine form), while fixed budgets and the converging regime (its own per-slice stop rule) are both supported."""
    missing = [m for m in ("ste", "projection") if "real_methods" in params and m not in params["real_methods"]]
    if missing:
        raise ValueError(f"real_methods must include 'ste' and 'projection' (the claims compare them), missing {missing}")
    named = [(f"regime_names[{i}]", r) for i, r in enumerate(params.get("regime_names", []))]
    _check_plain(named + ([("curve_regime", params["curve_regime"])] if "curve_regime" in params else []), "the MLP model's codebook is plain")
    if "lbg_vectors" in params:
        for i, k in enumerate(params.get("K_list", [])):
            if k > params["lbg_vectors"]:
                raise ValueError(f"K_list[{i}] must be at most lbg_vectors = {params['lbg_vectors']} (LBG starts from K of them), got {k}")
    if "init_vectors" in params:
        from vqlib.regimes import REGIMES

        starts = set(params.get("inits", [])) | {REGIMES[r].init for r in params.get("regime_names", [])}
        sizes = [("K", params["K"])] if "K" in params and starts & _FROM_DATA else []
        if "curve_regime" in params and REGIMES[params["curve_regime"]].init in _FROM_DATA:
            sizes += [(f"K_list[{i}]", k) for i, k in enumerate(params.get("K_list", []))]
        for name, k in sizes:
            if k > params["init_vectors"]:
                raise ValueError(f"{name} must be at most init_vectors = {params['init_vectors']} (k-means and data-sample "
                                 f"codebook starts pick codes from them), got {name} = {k}")


SPECS.update({
    "block": Spec(_int(2, 16), "side of the square image patches, in pixels (vectors of block² pixels)"),
    "n_eval_digits": Spec(_int(1, 1796), "held-out digits per seed (of scikit-learn's 1,797)"),
    "hidden": Spec(_int(1), "hidden units of the MLP encoder and decoder"),
    "activation": Spec(_choice(lambda: ["gelu", "relu"]), "the MLP's nonlinearity"),
    "real_methods": Spec(_list(_choice(_real_methods)), "training methods of the real-data study (vqlib.realdata.METHODS)"),
    "curve_methods": Spec(_list(_choice(_real_methods)), "methods drawn on the rate–PSNR curve"),
    "digits_methods": Spec(_list(_choice(_real_methods), min_len=0), "methods trained on the digits (empty: skip the digits)"),
    "regime_names": Spec(_list(_choice(_regimes)), "training regimes (vqlib.regimes) in which every claim is re-tested"),
    "curve_regime": Spec(_choice(_regimes), "training regime of the rate–PSNR curve"),
    "lbg_iters": Spec(_int(1), "Lloyd iterations of the LBG reference quantizer on raw pixels"),
    "lbg_vectors": Spec(_int(1), "training vectors per seed the LBG reference is fitted on"),
    "init_vectors": Spec(_int(1), "encoded training vectors per seed the data-based codebook starts are computed from"),
    "usage_batch": Spec(_int(1), "batch size of the per-batch usage (the rotation-trick paper's: 256)"),
})


# --- The convolutional real-data study (vqlib.studies.realconv) ------------------------------------------


def _conv_methods() -> list[str]:
    from vqlib.convvq import METHODS

    return sorted(METHODS)


def _splits() -> list[str]:
    from vqlib.images import SPLITS

    return sorted(SPLITS)


def _check_realconv(params: dict[str, Any]) -> None:
    """FSQ's levels must multiply to K exactly (fours, and a two when log2 K is odd): every conv K a power of two;
    the convolutional model has plain codebooks only (no affine or cosine form)."""
    from vqlib.regimes import REGIMES

    if "fsq" in params.get("conv_methods", []) + params.get("conv_converged_methods", []):
        for name in ("conv_K_list", "conv_converged_K"):
            for i, k in enumerate(params.get(name, [])):
                if k & (k - 1):
                    raise ValueError(f"{name}[{i}] must be a power of two when conv_methods has 'fsq' (∏ levels = K), got {k}")
    for i, r in enumerate(params.get("conv_regimes", [])):
        if REGIMES[r].form != "plain":
            plain = sorted(n for n, g in REGIMES.items() if g.form == "plain")
            raise ValueError(f"conv_regimes[{i}] must be one of {plain} (the convolutional model's codebook is plain), got {r!r}")


SPECS.update({
    "conv_seeds": Spec(_int(1), "seeds of the convolutional VQ-VAE (each method is trained once per seed)"),
    "conv_K_list": Spec(_list(_int(4, 4096)), "codebook sizes of the convolutional VQ-VAE (at most its 4,096 codebook-start vectors)"),
    "conv_methods": Spec(_list(_choice(_conv_methods)), "methods of the convolutional VQ-VAE (vqlib.convvq.METHODS)"),
    "conv_regimes": Spec(_list(_choice(_regimes)), "training regimes of the convolutional VQ-VAE"),
    "conv_batch": Spec(_int(1), "16×16 training crops per step"),
    "conv_hidden": Spec(_int(1), "channels of the convolutional VQ-VAE's hidden layer"),
    "conv_m": Spec(_int(1), "dimension of each latent of the 4×4 grid"),
    "conv_split": Spec(_choice(_splits), "named split of training and held-out images (vqlib.images.SPLITS)"),
    "conv_cap": Spec(_int(2500, 100000), "step cap of the convolutional model's converging regimes (their stop rule needs ≥ 2,500)"),
    "conv_converged_K": Spec(_list(_int(4, 4096)), "codebook sizes at which the convolutional model runs its converging regimes"),
    "conv_converged_methods": Spec(_list(_choice(_conv_methods)), "methods of the convolutional model's converging regimes "
                                   "(one task each; fewer than conv_methods where the budget requires)"),
})
