"""Hyper-parameter tuning of a model step (``finetune_params``) with Optuna, inside the
cross-validation of the config.

A model step may carry, beside its model, the search nirs4all's templates write::

    - model: {class: sklearn.cross_decomposition.PLSRegression}
      name: PLS-tuned
      finetune_params:
        n_trials: 20
        approach: single          # the only one: one search per fit context (below)
        sample: tpe               # grid | random | tpe (default tpe); sampler is a synonym
        seed: 0                   # sampler and inner folds (default 0)
        cv: 3                     # inner folds (default 3)
        model_params:
          n_components: [int, 1, 25]          # also int_log, float, float_log, log_float
          scale: [true, false]                # a plain list: categorical
          alpha: {type: float, low: 0.01, high: 1.0, log: true}

In every fit context of the config (each outer fold, and the refit on the calibration set) the
search sees only that context's training rows: each trial fits the model with its parameters
on ``cv`` inner folds of those rows (``KFold(shuffle=True, random_state=seed)`` over the
training samples, so augmented copies stay with their origin) and scores the pooled inner
out-of-fold predictions with the task's selection metric (RMSE; accuracy for
classification). The best trial's parameters are then fit on all the context's training rows.
So no validation row of an outer fold and no test row ever reaches the search, the outer
cross-validation score stays honest, and everything is seeded: the same config gives the same
trials. The refit's best parameters are the result's (``Result.info["tuning"]["best_params"]``);
every context's trials are recorded too (``…["contexts"]``) and stored with the result.

:func:`check` validates a ``finetune_params`` mapping against the model's parameters when a
template is expanded, before anything is computed. Optuna is imported only when a search runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nirs_core.errors import ConfigError

__all__ = ["Space", "TuningSpec", "check", "check_steps", "tune"]

_KEYS = ("n_trials", "approach", "sample", "sampler", "seed", "cv", "model_params", "verbose", "train_params")
_SAMPLERS = ("grid", "random", "tpe")
_KINDS = ("int", "int_log", "float", "float_log", "log_float", "categorical")


@dataclass(frozen=True)
class Space:
    """One parameter's search space: ``kind`` int/float (``log``), or categorical ``choices``."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def grid(self, path: str) -> list[Any]:
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int" and not self.log:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        raise ConfigError(
            f"{path}: sample 'grid' needs discrete values; {self.name!r} is a {'log ' if self.log else ''}"
            f"{self.kind} range (give a list of values, or use 'random' or 'tpe')."
        )


@dataclass(frozen=True)
class TuningSpec:
    n_trials: int
    sampler: str
    seed: int
    cv: int
    spaces: tuple[Space, ...]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _space(name: str, raw: Any, path: str) -> Space:
    if isinstance(raw, Mapping):  # {type, low|min, high|max, step, log} or {choices}
        kind = raw.get("type", "categorical" if "choices" in raw else None)
        if kind == "categorical":
            choices = raw.get("choices")
            if not isinstance(choices, (list, tuple)) or not choices:
                raise ConfigError(f"{path}.choices: expected a non-empty list; got {choices!r}.")
            return Space(name, "categorical", choices=tuple(choices))
        if kind not in ("int", "float"):
            raise ConfigError(f"{path}.type: expected int, float or categorical; got {kind!r}.")
        low, high = raw.get("low", raw.get("min")), raw.get("high", raw.get("max"))
        kind = f"{kind}_log" if raw.get("log") else kind
        raw = [kind, low, high, *([raw["step"]] if "step" in raw else [])]
    if isinstance(raw, (list, tuple)) and raw and isinstance(raw[0], str) and raw[0] in _KINDS[:-1]:
        kind, *bounds = raw
        if len(bounds) not in (2, 3) or not all(_is_num(b) for b in bounds):
            raise ConfigError(
                f"{path}: expected [{kind!r}, low, high] or [{kind!r}, low, high, step]; got {list(raw)!r}."
            )
        low, high = bounds[0], bounds[1]
        step = bounds[2] if len(bounds) == 3 else None
        log = kind in ("int_log", "float_log", "log_float")
        base = "int" if kind.startswith("int") else "float"
        if base == "int" and not all(_is_int(b) for b in bounds):
            raise ConfigError(f"{path}: an int range needs integer bounds; got {list(raw)!r}.")
        if not low <= high or (log and low <= 0) or (step is not None and step <= 0):
            raise ConfigError(
                f"{path}: expected low <= high{' and low > 0 (log scale)' if log else ''}"
                f"{', step > 0' if step is not None else ''}; got {list(raw)!r}."
            )
        return Space(name, base, low, high, step, log)
    if isinstance(raw, (list, tuple)) and raw:
        return Space(name, "categorical", choices=tuple(raw))
    raise ConfigError(
        f"{path}: expected [int|float|int_log|float_log, low, high(, step)], a list of choices or "
        f"{{type, low, high, step, log}}; got {raw!r}."
    )


def check(spec: Any, model_params: list[str] | None, path: str) -> TuningSpec:
    """The validated search of a model step (``path`` names its ``finetune_params``);
    ``model_params``: the model's constructor parameters (None: not known)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{path}: expected a mapping (n_trials, sample, model_params…); got {spec!r}.")
    unknown = [k for k in spec if k not in _KEYS]
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; expected some of {', '.join(_KEYS)}.")
    n_trials = spec.get("n_trials", 10)
    if not (_is_int(n_trials) and n_trials >= 1):
        raise ConfigError(f"{path}.n_trials: expected an integer >= 1; got {n_trials!r}.")
    approach = spec.get("approach", "single")
    if approach != "single":
        raise ConfigError(
            f"{path}.approach: only 'single' (one search per fit context, on its training rows) is "
            f"supported; got {approach!r}."
        )
    sampler = spec.get("sample", spec.get("sampler", "tpe"))
    if sampler not in _SAMPLERS:
        raise ConfigError(f"{path}.sample: expected one of {', '.join(_SAMPLERS)}; got {sampler!r}.")
    seed, cv = spec.get("seed", 0), spec.get("cv", 3)
    if not (_is_int(seed) and seed >= 0):
        raise ConfigError(f"{path}.seed: expected an integer >= 0; got {seed!r}.")
    if not (_is_int(cv) and cv >= 2):
        raise ConfigError(f"{path}.cv: expected an integer >= 2 (inner folds); got {cv!r}.")
    params = spec.get("model_params")
    if not isinstance(params, Mapping) or not params:
        raise ConfigError(
            f"{path}.model_params: expected a mapping of parameter names to search spaces; got {params!r}."
        )
    spaces = []
    for name, raw in params.items():
        if model_params is not None and name not in model_params:
            raise ConfigError(
                f"{path}.model_params: the model has no parameter {name!r}; its parameters are "
                f"{', '.join(model_params)}."
            )
        spaces.append(_space(str(name), raw, f"{path}.model_params.{name}"))
    out = TuningSpec(n_trials, sampler, seed, cv, tuple(spaces))
    if sampler == "grid":
        for s in spaces:
            s.grid(f"{path}.model_params.{s.name}")
    return out


def check_steps(steps: list[Any], path: str = "steps") -> None:
    """Validate the ``finetune_params`` of every top-level model step of canonical ``steps``."""
    from nirs_core.pipeline.serialize import _param_names, resolve_class

    for i, step in enumerate(steps):
        if isinstance(step, Mapping) and "model" in step and "finetune_params" in step:
            cls = resolve_class(step["model"]["class"])
            check(step["finetune_params"], _param_names(cls), f"{path}[{i}].finetune_params")


def _folds(groups: np.ndarray, k: int, seed: int, path: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner folds over the training rows, by origin sample: (fit rows, validation rows)."""
    from nirs_core.splitters._sklearn_splits import KFold  # scikit-learn's folds, without importing it

    origins = np.unique(groups)
    if origins.size < k:
        raise ConfigError(
            f"{path}: cv={k} inner folds need {k} training samples; the fit context has {origins.size}."
        )
    out = []
    for train, val in KFold(k, shuffle=True, random_state=seed).split(origins):
        out.append(
            (np.flatnonzero(np.isin(groups, origins[train])), np.flatnonzero(np.isin(groups, origins[val])))
        )
    return out


def _suggest(trial: Any, s: Space) -> Any:
    if s.kind == "categorical":
        return trial.suggest_categorical(s.name, list(s.choices))
    if s.kind == "int":
        return trial.suggest_int(s.name, int(s.low), int(s.high), step=int(s.step or 1), log=s.log)
    return trial.suggest_float(s.name, float(s.low), float(s.high), step=s.step, log=s.log)


def tune(
    fit_predict: Any,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    spec: TuningSpec,
    metric: str,
    path: str,
) -> dict[str, Any]:
    """Search ``spec`` on the training rows ``X, y`` (origin sample of each row in ``groups``):
    ``fit_predict(params, X_fit, y_fit, X_val)`` returns the predictions of a model fit with
    ``params``. Returns ``{"best_params", "best_score", "metric", "trials", …}`` (scores in
    the metric's units; the best is the one nearest the metric's optimum, earliest on ties)."""
    import optuna

    from nirs_core.metrics import badness, compute_metric

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folds = _folds(groups, spec.cv, spec.seed, path)
    n_trials = spec.n_trials
    if spec.sampler == "grid":
        space = {s.name: s.grid(path) for s in spec.spaces}
        sampler = optuna.samplers.GridSampler(space, seed=spec.seed)
        n_trials = min(n_trials, math.prod(len(v) for v in space.values()))
    elif spec.sampler == "random":
        sampler = optuna.samplers.RandomSampler(seed=spec.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=spec.seed)

    def objective(trial: Any) -> float:
        params = {s.name: _suggest(trial, s) for s in spec.spaces}
        pred = np.empty(y.shape, dtype=np.float64)
        for fit_rows, val_rows in folds:
            out = np.asarray(fit_predict(params, X[fit_rows], y[fit_rows], X[val_rows]), dtype=np.float64)
            pred[val_rows] = out.reshape(pred[val_rows].shape)
        score = compute_metric(metric, y, pred)
        trial.set_user_attr("score", score)
        return badness(metric, score)

    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(objective, n_trials=n_trials, catch=(ValueError, ArithmeticError, np.linalg.LinAlgError))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        errors = {str(t.system_attrs.get("fail_reason", "")) for t in study.trials}
        raise ConfigError(f"{path}: every trial of the search failed ({'; '.join(sorted(errors))[:300]}).")
    best = min(done, key=lambda t: (t.value, t.number))
    trials = [
        {
            "number": t.number,
            "params": dict(t.params),
            "score": t.user_attrs.get("score"),
            "state": t.state.name,
        }
        for t in study.trials
    ]
    return {
        "best_params": dict(best.params),
        "best_score": best.user_attrs["score"],
        "metric": metric,
        "sampler": spec.sampler,
        "seed": spec.seed,
        "inner_folds": spec.cv,
        "trials": trials,
    }
