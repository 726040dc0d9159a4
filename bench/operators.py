"""Time every registered operator that has ``transform``, and the PLS models, against the
baselines and references measured in the same run.

    python bench/operators.py            # 10 000 × 2 048 float64, best of 5
    python bench/operators.py --quick    # 2 000 × 512, best of 3

Spectra are seeded smooth synthetics (Gaussian bands, a sloped baseline, multiplicative
scatter, a little noise); y is a combination of three band intensities. Every timing is the
best of N repeats after one warm-up call; ratios compare timings of the same run, so a busy
machine moves them less than the absolute times. Nothing is asserted: read the table.

Operators: the time of ``fit(X, y)`` and of ``transform(X)`` (on the fitted operator), the ratio
to ``X.copy()`` of ``transform`` (the cost of applying an operator: what the engine pays per fold
and per partition) and of ``fit + transform``, and, where one exists, the ratio of each to a
reference implementation with the same parameters (chemotools, scipy). Targets (the issue's):
SNV and MSC ≤ 2× a copy, read in the ``tr × copy`` column (transform); Savitzky–Golay ≤ scipy,
read in both ``tr / ref`` and ``f+t / ref``. Models: a PLS fit
with 15 components against ikpls (numpy, algorithms 1 and 2) and scikit-learn, and 5-fold
cross-validation for every A in 1..30 against ikpls's fast cross-validation and against one
scikit-learn fit per fold (A = 30, with the predictions for every A read off its rotations and
loadings). Targets (the issue's): PLS fit and CV ≤ 1.2× ikpls, ≥ 4× faster than scikit-learn.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import pkgutil
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

warnings.filterwarnings("ignore", category=FutureWarning)


def synthetic_spectra(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth NIR-like spectra ``(n, p)`` and a target from three of their bands."""
    rng = np.random.default_rng(seed)
    axis = np.linspace(0.0, 1.0, p)
    n_bands = 12
    centres = rng.uniform(0.05, 0.95, n_bands)
    widths = rng.uniform(0.01, 0.06, n_bands)
    bands = np.exp(-0.5 * ((axis[None, :] - centres[:, None]) / widths[:, None]) ** 2)
    conc = rng.uniform(0.2, 1.0, (n, n_bands))
    X = conc @ bands
    X *= rng.uniform(0.8, 1.2, (n, 1))  # multiplicative scatter
    X += rng.normal(0.3, 0.05, (n, 1)) + rng.normal(0.0, 0.1, (n, 1)) * axis  # sloped baseline
    X += rng.normal(0.0, 1e-3, (n, p))
    y = conc[:, :3] @ np.array([1.0, -0.5, 0.8]) + rng.normal(0.0, 0.01, n)
    return np.ascontiguousarray(X), y


SLOW = 60.0  # seconds: an operator estimated slower than this on the full matrix is not timed


def race(funcs: dict[str, Callable[[], object]], repeats: int, budget: float = 30.0) -> dict[str, float]:
    """Best wall time of each function over ``repeats`` interleaved rounds (after one warm-up
    round), so that load from other processes hits every contender alike. A contender whose
    warm-up is slow runs fewer rounds (at most ``budget`` seconds in all)."""
    best: dict[str, float] = {}
    first: dict[str, float] = {}
    for name, func in funcs.items():
        start = time.perf_counter()
        func()
        first[name] = best[name] = time.perf_counter() - start
    for round_ in range(repeats):
        for name, func in funcs.items():
            if first[name] * (round_ + 2) > budget:
                continue
            start = time.perf_counter()
            func()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


# --------------------------------------------------------------------------------------------
# references: class or alias name -> factory(params) -> callable(X) (None when the operator's
# parameters have no counterpart in the reference)


def _chemotools(path: str, **kwargs):
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return lambda X: cls(**kwargs).fit_transform(X)


def _ref_savgol(params):
    from scipy.signal import savgol_filter

    keys = {"window_length", "polyorder"}
    if not keys <= set(params):
        return None
    kwargs = {k: params[k] for k in ("window_length", "polyorder", "deriv", "delta", "mode") if k in params}
    return lambda X: savgol_filter(X, axis=1, **kwargs)


def _ref_detrend(params):
    from scipy.signal import detrend

    order = params.get("order", params.get("degree", 1))
    if order not in (0, 1):
        return None
    kind = "constant" if order == 0 else "linear"
    return lambda X: detrend(X, axis=1, type=kind)


def _ref_gaussian(params):
    from scipy.ndimage import gaussian_filter1d

    if "sigma" not in params:
        return None
    kwargs = {"sigma": params["sigma"]}
    for key in ("order", "mode", "truncate"):
        if key in params:
            kwargs[key] = params[key]
    return lambda X: gaussian_filter1d(X, axis=1, **kwargs)


def _ref_mean_filter(params):
    from scipy.ndimage import uniform_filter1d

    size = params.get("window_size", params.get("size", params.get("window_length")))
    if size is None:
        return None
    return lambda X: uniform_filter1d(X, size=int(size), axis=1)


def _ref_median_filter(params):
    from scipy.ndimage import median_filter

    size = params.get("window_size", params.get("size", params.get("window_length")))
    if size is None:
        return None
    return lambda X: median_filter(X, size=(1, int(size)))


REFERENCES: dict[str, tuple[str, Callable]] = {
    "StandardNormalVariate": (
        "chemotools StandardNormalVariate",
        lambda params: _chemotools("chemotools.scatter.StandardNormalVariate"),
    ),
    "MultiplicativeScatterCorrection": (
        "chemotools MultiplicativeScatterCorrection",
        lambda params: _chemotools("chemotools.scatter.MultiplicativeScatterCorrection"),
    ),
    "ExtendedMultiplicativeScatterCorrection": (
        "chemotools ExtendedMultiplicativeScatterCorrection",
        lambda params: _chemotools("chemotools.scatter.ExtendedMultiplicativeScatterCorrection"),
    ),
    "RobustNormalVariate": (
        "chemotools RobustNormalVariate",
        lambda params: _chemotools("chemotools.scatter.RobustNormalVariate"),
    ),
    "SavitzkyGolay": ("scipy.signal.savgol_filter(axis=1)", _ref_savgol),
    "SavitzkyGolayFilter": ("scipy.signal.savgol_filter(axis=1)", _ref_savgol),
    "Detrend": ("scipy.signal.detrend(axis=1)", _ref_detrend),
    "GaussianSmoothing": ("scipy.ndimage.gaussian_filter1d(axis=1)", _ref_gaussian),
    "GaussianFilter": ("scipy.ndimage.gaussian_filter1d(axis=1)", _ref_gaussian),
    "MeanFilter": ("scipy.ndimage.uniform_filter1d(axis=1)", _ref_mean_filter),
    "MovingAverage": ("scipy.ndimage.uniform_filter1d(axis=1)", _ref_mean_filter),
    "MedianFilter": ("scipy.ndimage.median_filter", _ref_median_filter),
    "NorrisWilliams": (
        "chemotools NorrisWilliams",
        lambda params: _chemotools("chemotools.derivative.NorrisWilliams"),
    ),
    "LinearCorrection": (
        "chemotools LinearCorrection",
        lambda params: _chemotools("chemotools.baseline.LinearCorrection"),
    ),
}


def _registry_classes() -> dict[type, list[str]]:
    """Registered project classes that have ``transform``, with their short names."""
    for package in ("nirs_core.operators", "nirs_core.models", "nirs_core.splitters"):
        # Import the private kernel modules first: a package whose estimator modules import
        # ``from package import _kernels`` then finds it without a lazy full load.
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.startswith("_"):
                with contextlib.suppress(Exception):
                    importlib.import_module(f"{package}.{info.name}")
    from nirs_core import registry as _registry

    try:
        mapping = dict(_registry.available())
    except Exception as exc:  # one broken module must not hide the others from the bench
        print(f"! registry: {type(exc).__name__}: {exc}; timing the modules that import", file=sys.stderr)
        for package in ("nirs_core.operators", "nirs_core.models"):
            pkg = importlib.import_module(package)
            for info in pkgutil.iter_modules(pkg.__path__):
                if not info.name.startswith("_"):
                    try:
                        importlib.import_module(f"{package}.{info.name}")
                    except Exception as sub_exc:
                        print(
                            f"! {package}.{info.name}: {type(sub_exc).__name__}: {sub_exc}", file=sys.stderr
                        )
        mapping = dict(_registry._REGISTRY)
    from sklearn.base import BaseEstimator

    classes: dict[type, list[str]] = {}
    for name, cls in sorted(mapping.items()):
        if not (isinstance(cls, type) and issubclass(cls, BaseEstimator) and hasattr(cls, "transform")):
            continue
        names = classes.setdefault(cls, [])
        if "." not in name and name != cls.__name__:
            names.append(name)
    return dict(sorted(classes.items(), key=lambda item: (item[0].__module__, item[0].__name__)))


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:8.1f} ms"


# When an operator's defaults have no counterpart in its reference, a second row times it with
# these parameters (which the reference has) against the reference.
COMPARABLE_PARAMS = {"Detrend": {"order": 1}}


def _reference(cls: type, aliases: list[str], params: dict):
    """``(label, callable or None)`` of the reference for an operator, if it has one."""
    for key in (cls.__name__, *aliases):
        if key in REFERENCES:
            label, factory = REFERENCES[key]
            try:
                ref = factory(params)
            except Exception as exc:
                return f"{label} (failed: {type(exc).__name__})", None
            return (label, ref) if ref is not None else (f"{label} (params differ)", None)
    return "", None


def _row(
    label: str, est, data: np.ndarray, y: np.ndarray, ref_label: str, ref, repeats: int, copy_time: float
) -> None:
    fitted = est.fit(data, y)  # transform is timed on an operator fitted once, outside the race
    contenders = {"fit": lambda: est.fit(data, y), "transform": lambda: fitted.transform(data)}
    if ref is not None:
        try:
            ref(data[:5])
            contenders["ref"] = lambda: ref(data)
        except Exception as exc:
            ref_label += f" (failed: {type(exc).__name__})"
    try:
        times = race(contenders, repeats)
    except Exception as exc:
        print(f"{label:<44} {'failed':>11}  {type(exc).__name__}: {str(exc)[:70]}")
        return
    fit, tr, ref_time = times["fit"], times["transform"], times.get("ref")
    both = fit + tr
    ratios = f"{tr / ref_time:8.2f} {both / ref_time:8.2f}" if ref_time else f"{'-':>8} {'-':>8}"
    print(
        f"{label:<44} {_fmt_time(fit):>11} {_fmt_time(tr):>11} {tr / copy_time:8.2f} {both / copy_time:8.2f}  "
        f"{ref_label[:40]:<40} {_fmt_time(ref_time):>11} {ratios}"
    )


def bench_operators(X: np.ndarray, y: np.ndarray, repeats: int, match: list[str] | None = None) -> None:
    """The operator table; ``match``: time only the operators whose class name or one of whose
    short names is in this list (case-insensitive)."""
    # The baseline: the best of many copies (a copy is short, so one slow round would skew it).
    copy_time = race({"copy": lambda: X.copy()}, max(repeats, 25))["copy"]
    reflectance = 10.0**-X  # for operators that take reflectance in (0, 1]
    print(f"\n## Operators on X {X.shape[0]} × {X.shape[1]} float64 (X.copy() = {copy_time * 1e3:.1f} ms)\n")
    print(
        "fit = fit(X, y); transform = transform(X) on the fitted operator; f+t = fit + transform;\n"
        "tr × copy = transform / X.copy(), f+t × copy = (fit + transform) / X.copy();\n"
        "tr / ref and f+t / ref: the same over the reference's time (< 1: ours is faster).\n"
        "Targets: SNV and MSC ≤ 2 in the tr × copy column (the cost of applying an operator, which\n"
        "the engine pays per fold and per partition); Savitzky–Golay ≤ 1 in tr / ref and f+t / ref.\n"
    )
    header = (
        f"{'operator':<44} {'fit':>11} {'transform':>11} {'tr×copy':>8} {'f+t×copy':>8}  "
        f"{'reference':<40} {'ref time':>11} {'tr/ref':>8} {'f+t/ref':>8}"
    )
    print(header)
    print("-" * len(header))
    part = max(len(X) // 20, 20)
    for cls, aliases in _registry_classes().items():
        if match and not {m.lower() for m in match} & {n.lower() for n in (cls.__name__, *aliases)}:
            continue
        label = cls.__name__ + (f" ({', '.join(aliases)})" if aliases else "")
        label = label if len(label) <= 44 else label[:41] + "..."
        data, error = None, None
        for candidate in (X, reflectance):
            try:
                est = cls(**getattr(cls, "_contract_params", {}))
                # time on part and 2·part rows; extrapolate the row-dependent cost linearly
                # (an operator whose cost is in the features, like DS, barely grows with rows)
                sizes = []
                for rows in (part, 2 * part):
                    start = time.perf_counter()
                    est.fit(candidate[:rows], y[:rows]).transform(candidate[:rows])
                    sizes.append(time.perf_counter() - start)
                estimate = sizes[1] + max(sizes[1] - sizes[0], 0.0) * (len(X) - 2 * part) / part
                data = candidate
                break
            except Exception as exc:
                error = error or exc
        if data is None:
            print(f"{label:<44} {'skipped':>11}  {type(error).__name__}: {str(error)[:70]}")
            continue
        if data is reflectance:
            label = f"{cls.__name__} (on 10^-X)"
        if estimate > SLOW:
            print(
                f"{label:<44} {'skipped':>11}  ≈ {estimate:.0f} s estimated from {part} and {2 * part} rows (over {SLOW:.0f} s)"
            )
            continue
        ref_label, ref = _reference(cls, aliases, est.get_params())
        _row(label, est, data, y, ref_label, ref, repeats, copy_time)
        overrides = COMPARABLE_PARAMS.get(cls.__name__)
        if ref is None and overrides:
            twin = cls(**overrides)
            twin_label = f"  {cls.__name__}({', '.join(f'{k}={v!r}' for k, v in overrides.items())})"
            ref_label, ref = _reference(cls, aliases, twin.get_params())
            _row(twin_label, twin, data, y, ref_label, ref, repeats, copy_time)


def _sklearn_cv_predictions(X, y, folds, A):
    """One scikit-learn fit per fold at A components; predictions for every a ≤ A from the
    fitted rotations and loadings (the fair way to get every A from scikit-learn)."""
    from sklearn.cross_decomposition import PLSRegression as SklearnPLS

    out = np.empty((len(y), A))
    for train, val in folds:
        model = SklearnPLS(A, scale=False).fit(X[train], y[train])
        T = (X[val] - X[train].mean(axis=0)) @ model.x_rotations_
        out[val] = np.cumsum(T * model.y_loadings_[0], axis=1) + y[train].mean()
    return out


def bench_models(X: np.ndarray, y: np.ndarray, repeats: int) -> None:
    from ikpls.fast_cross_validation.numpy import PLS as IkplsFastCV
    from ikpls.numpy import PLS as IkplsPLS
    from sklearn.cross_decomposition import PLSRegression as SklearnPLS
    from sklearn.model_selection import KFold

    import nirs_core.models._kernels as kernels
    from nirs_core.models.cv import pls_cv_predict
    from nirs_core.models.pls import PLSRegression

    n, p = X.shape
    Y = y[:, None]
    A_fit, A_cv, k = 15, 30, 5
    print(f"\n## PLS fit, A = {A_fit}, X {n} × {p}\n")
    rows = {
        "nirs PLSRegression (auto)": lambda: PLSRegression(A_fit).fit(X, y),
        "nirs pls_fit algorithm 1": lambda: kernels.pls_fit(X, Y, A_fit, algorithm=1),
        "nirs pls_fit algorithm 2": lambda: kernels.pls_fit(X, Y, A_fit, algorithm=2),
        "ikpls numpy algorithm 1": lambda: IkplsPLS(algorithm=1, scale_X=False, scale_Y=False).fit(
            X, Y, A_fit
        ),
        "ikpls numpy algorithm 2": lambda: IkplsPLS(algorithm=2, scale_X=False, scale_Y=False).fit(
            X, Y, A_fit
        ),
        "sklearn PLSRegression(scale=False)": lambda: SklearnPLS(A_fit, scale=False).fit(X, y),
    }
    times = race(rows, repeats)
    for name in rows:
        print(f"{name:<40} {_fmt_time(times[name])}")
    ours = times["nirs PLSRegression (auto)"]
    ik = min(times["ikpls numpy algorithm 1"], times["ikpls numpy algorithm 2"])
    print(f"{'ours / best ikpls':<40} {ours / ik:9.2f}   (target ≤ 1.2)")
    print(f"{'sklearn / ours':<40} {times['sklearn PLSRegression(scale=False)'] / ours:9.2f}   (target ≥ 4)")

    folds = list(KFold(k, shuffle=True, random_state=0).split(X))
    fold_ids = np.empty(n, dtype=int)
    for i, (_, val) in enumerate(folds):
        fold_ids[val] = i

    def rmse_per_a(Y_val, Y_pred):
        return np.sqrt(np.mean((Y_pred - Y_val[None]) ** 2, axis=(1, 2)))

    def ikpls_cv(algorithm, n_jobs):
        def run():
            with contextlib.redirect_stdout(io.StringIO()):
                IkplsFastCV(algorithm=algorithm, scale_X=False, scale_Y=False).cross_validate(
                    X, Y, A_cv, fold_ids, rmse_per_a, n_jobs=n_jobs, verbose=0
                )

        return run

    print(f"\n## {k}-fold cross-validation, every A in 1..{A_cv}, X {n} × {p}\n")
    rows = {
        "nirs pls_cv_predict (auto)": lambda: pls_cv_predict(X, y, folds, A_cv),
        "nirs pls_cv_predict algorithm 1": lambda: pls_cv_predict(X, y, folds, A_cv, algorithm=1),
        "nirs pls_cv_predict algorithm 2": lambda: pls_cv_predict(X, y, folds, A_cv, algorithm=2),
        "ikpls fast CV algorithm 1, n_jobs=1": ikpls_cv(1, 1),
        "ikpls fast CV algorithm 2, n_jobs=1": ikpls_cv(2, 1),
        "ikpls fast CV algorithm 2, n_jobs=-1": ikpls_cv(2, -1),
        "sklearn, one A=30 fit per fold": lambda: _sklearn_cv_predictions(X, y, folds, A_cv),
    }
    times = race(rows, repeats)
    for name in rows:
        print(f"{name:<40} {_fmt_time(times[name])}")
    ours = times["nirs pls_cv_predict (auto)"]
    ik = min(v for name, v in times.items() if name.startswith("ikpls"))
    print(f"{'ours / best ikpls':<40} {ours / ik:9.2f}   (target ≤ 1.2)")
    print(f"{'sklearn / ours':<40} {times['sklearn, one A=30 fit per fold'] / ours:9.2f}   (target ≥ 4)")
    check = np.max(
        np.abs(pls_cv_predict(X, y, folds, A_cv)[:, :, 0] - _sklearn_cv_predictions(X, y, folds, A_cv))
    )
    print(f"{'max |ours - sklearn| over all A':<40} {check:9.2e}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 000 × 512 and best of 3")
    parser.add_argument("--only", choices=["operators", "models"], help="run one half of the bench")
    parser.add_argument(
        "--match",
        action="append",
        metavar="NAME",
        help="time only the operator whose class name or short name is NAME (repeatable)",
    )
    args = parser.parse_args(argv)
    n, p, repeats = (2000, 512, 3) if args.quick else (10_000, 2048, 5)
    X, y = synthetic_spectra(n, p)
    import numpy

    print(f"numpy {numpy.__version__}; {n} × {p} float64; best of {repeats} after a warm-up")
    if args.only in (None, "operators"):
        bench_operators(X, y, repeats, args.match)
    if args.only in (None, "models"):
        bench_models(X, y, repeats)


if __name__ == "__main__":
    main()
