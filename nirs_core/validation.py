"""Validation statistics of a calibration as the field reports them (ISO 12099:2017, ASTM E1655),
the control chart of ongoing checks (ISO 12099 §11) and the conformal quantile of a prediction
interval. Plain numpy/scipy: the executor, the datasheet, the leaderboard, ``nirs show`` and the
Dagster metadata all call :func:`regression_statistics` / :func:`classification_statistics`.

Conventions (residual e = predicted − reference, as in :mod:`nirs_core.metrics`):

- ``rmsec`` / ``rmsecv`` / ``rmsep``: √(mean e²) of the calibration (refit on the calibration
  set), the pooled cross-validation and the test predictions; the key names the kind.
- ``bias`` mean(e); ``sep`` √(Σ(e − bias)² / (n − 1)).
- ``slope``, ``intercept``: the least-squares line reference = intercept + slope · predicted.
- ``r2`` 1 − Σe² / Σ(y − ȳ)²; ``rpd`` SD(y, n − 1) / SEP; ``rpiq`` IQR(y) / RMSE (numpy's
  default linear percentiles).
- ``tests`` (ISO 12099 §7, 95 %), each ``{statistic, limit, verdict}``:
  ``bias``: t = |bias|·√n / SEP against t(0.975, n − 1) (also ``bias_limit`` = t·SEP/√n, the
  standard's T_b); ``slope``: t = |slope − 1|·√(Σ(ŷ − mean ŷ)²) / s_res, s_res the residual SD of
  the line (n − 2), against t(0.975, n − 2); ``sep`` (test only, given the SECV): F = SEP²/SECV²
  against F(0.95, n − 1, n_cv − 1) (the standard's unexplained-error limit, squared).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nirs_core.errors import DataError

__all__ = [
    "RMSE_NAMES",
    "classification_statistics",
    "conformal_quantile",
    "control_chart",
    "regression_statistics",
]

#: The RMSE's name for each kind of result.
RMSE_NAMES = {"calibration": "rmsec", "cv": "rmsecv", "test": "rmsep"}


def _verdict(ok: bool) -> str:
    return "pass" if ok else "fail"


def _pair(owner: str, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape or t.size < 3:
        raise DataError(
            f"{owner}: expected reference and predicted values of one length ≥ 3; got {t.size} and {p.size}."
        )
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise DataError(f"{owner}: reference and predicted values must be finite numbers.")
    return t, p


# Quantiles of the F, χ², Student t and normal distributions computed as scipy.stats' ``ppf``
# computes them (its ``_ppf``: the scipy.special function, times scale 1 plus loc 0), so the
# same bits (tested against scipy.stats), without importing scipy.stats: that import alone
# costs ~0.8 s, more than a whole small run (issue 12).


def f_ppf(q: float, dfn: float, dfd: float) -> float:
    """``scipy.stats.f.ppf(q, dfn, dfd)``."""
    from scipy import special

    return float(special.fdtri(dfn, dfd, q))


def chi2_ppf(q: float, df: float) -> float:
    """``scipy.stats.chi2.ppf(q, df)``."""
    from scipy import special

    return float(2 * special.gammaincinv(df / 2, q))


def t_ppf(q: float, df: float) -> float:
    """``scipy.stats.t.ppf(q, df)``."""
    from scipy import special

    return float(special.stdtrit(df, q))


def norm_ppf(q: float) -> float:
    """``scipy.stats.norm.ppf(q)``."""
    from scipy import special

    return float(special.ndtri(q))


def regression_statistics(
    y_true: Any,
    y_pred: Any,
    *,
    kind: str = "test",
    secv: float | None = None,
    n_cv: int | None = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """The statistics of one block of regression predictions (one target; see the module
    docstring). ``kind`` is ``calibration``, ``cv`` or ``test`` and names the RMSE; ``secv`` and
    ``n_cv`` (the cross-validation's SEP and sample count) add the F-test of a test set's SEP."""
    if kind not in RMSE_NAMES:
        raise DataError(f"regression_statistics: kind must be one of {sorted(RMSE_NAMES)}; got {kind!r}.")
    t, p = _pair("regression_statistics", y_true, y_pred)
    n = t.size
    e = p - t
    bias = float(e.mean())
    sep = float(math.sqrt(((e - bias) ** 2).sum() / (n - 1)))
    rmse = float(math.sqrt((e**2).mean()))
    ss_tot = float(((t - t.mean()) ** 2).sum())
    sxx = float(((p - p.mean()) ** 2).sum())
    slope = float(((p - p.mean()) * (t - t.mean())).sum() / sxx) if sxx > 0 else math.nan
    intercept = float(t.mean() - slope * p.mean())
    q75, q25 = np.percentile(t, [75, 25])
    sd_ref = float(t.std(ddof=1))
    alpha = 1.0 - level
    tests: dict[str, Any] = {}
    t_bias_crit = t_ppf(1 - alpha / 2, n - 1)
    t_bias = abs(bias) * math.sqrt(n) / sep if sep > 0 else math.inf
    tests["bias"] = {
        "statistic": t_bias,
        "limit": t_bias_crit,
        "bias_limit": t_bias_crit * sep / math.sqrt(n),
        "verdict": _verdict(t_bias <= t_bias_crit),
    }
    fitted = intercept + slope * p
    s_res = float(math.sqrt(((t - fitted) ** 2).sum() / (n - 2)))
    t_slope = abs(slope - 1.0) * math.sqrt(sxx) / s_res if s_res > 0 else math.inf
    t_slope_crit = t_ppf(1 - alpha / 2, n - 2)
    tests["slope"] = {
        "statistic": t_slope,
        "limit": t_slope_crit,
        "verdict": _verdict(t_slope <= t_slope_crit),
    }
    if kind == "test" and secv is not None and n_cv is not None and secv > 0 and n_cv > 1:
        f_obs = sep**2 / secv**2
        f_crit = f_ppf(level, n - 1, n_cv - 1)
        tests["sep"] = {
            "statistic": f_obs,
            "limit": f_crit,
            "sep_limit": secv * math.sqrt(f_crit),
            "verdict": _verdict(f_obs <= f_crit),
        }
    return {
        "n": int(n),
        RMSE_NAMES[kind]: rmse,
        "bias": bias,
        "sep": sep,
        "slope": slope,
        "intercept": intercept,
        "r2": 1.0 - float((e**2).sum()) / ss_tot if ss_tot > 0 else math.nan,
        "rpd": sd_ref / sep if sep > 0 else math.inf,
        "rpiq": float(q75 - q25) / rmse if rmse > 0 else math.inf,
        "tests": tests,
    }


def classification_statistics(y_true: Any, y_pred: Any, classes: Any = None) -> dict[str, Any]:
    """Accuracy, balanced accuracy (mean recall over the classes present in ``y_true``),
    per-class precision / recall / F1 and the confusion matrix (rows: reference class,
    columns: predicted class, in the order of ``classes``, default the sorted labels)."""
    t = np.asarray(y_true).reshape(-1)
    p = np.asarray(y_pred).reshape(-1)
    if t.shape != p.shape or t.size == 0:
        raise DataError(
            f"classification_statistics: expected reference and predicted labels of one non-empty "
            f"length; got {t.size} and {p.size}."
        )
    labels = list(np.unique(np.concatenate([t, p])) if classes is None else classes)
    index = {c: i for i, c in enumerate(labels)}
    missing = sorted({str(v) for v in np.concatenate([t, p]).tolist() if v not in index})
    if missing:
        raise DataError(f"classification_statistics: labels {missing} are not among the classes {labels}.")
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, ([index[v] for v in t.tolist()], [index[v] for v in p.tolist()]), 1)
    per_class = {}
    recalls = []
    for i, c in enumerate(labels):
        tp, fn, fp = int(cm[i, i]), int(cm[i].sum() - cm[i, i]), int(cm[:, i].sum() - cm[i, i])
        precision = tp / (tp + fp) if tp + fp else math.nan
        recall = tp / (tp + fn) if tp + fn else math.nan
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        if tp + fn:
            recalls.append(recall)
        per_class[str(c)] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    return {
        "n": int(t.size),
        "accuracy": float(np.trace(cm)) / t.size,
        "balanced_accuracy": float(np.mean(recalls)),
        "per_class": per_class,
        "classes": [c.item() if isinstance(c, np.generic) else c for c in labels],
        "confusion_matrix": cm.tolist(),
    }


def conformal_quantile(abs_residuals: Any, coverage: float) -> float:
    """The half-width of a split-conformal interval at ``coverage``: the ⌈(n + 1)·coverage⌉-th
    smallest absolute calibration residual (``inf`` when that rank exceeds n). With
    cross-validation residuals this is the "CV" interval of Barber et al. (2021) and MAPIE's
    ``method="base"``: the refit model's prediction ± this quantile."""
    r = np.sort(np.abs(np.asarray(abs_residuals, dtype=np.float64).reshape(-1)))
    if not 0.0 < coverage < 1.0 or r.size == 0:
        raise DataError(
            f"conformal_quantile: expected 0 < coverage < 1 and at least one residual; "
            f"got coverage={coverage!r} and {r.size} residuals."
        )
    k = math.ceil((r.size + 1) * coverage)
    return math.inf if k > r.size else float(r[k - 1])


def control_chart(differences: Any, sep: float, *, run_length: int = 9) -> dict[str, Any]:
    """Evaluate a control chart of reference − NIR differences (ISO 12099 §11, Shewhart rules):
    warning limits ±2·SEP, action limits ±3·SEP. The chart is *out of control* when a point is
    beyond an action limit, when 2 of 3 consecutive points are beyond the same warning limit, or
    when ``run_length`` consecutive points lie on one side of zero; *warning* when a single
    point is beyond a warning limit; *in control* otherwise. Returns the limits, the points
    that broke each rule and the ``verdict``."""
    d = np.asarray(differences, dtype=np.float64).reshape(-1)
    if d.size == 0 or not np.isfinite(d).all():
        raise DataError(f"control_chart: expected at least one finite difference; got {d.size} values.")
    if not (sep > 0 and math.isfinite(sep)) or run_length < 2:
        raise DataError(
            f"control_chart: expected SEP > 0 and run_length ≥ 2; got sep={sep!r}, run_length={run_length!r}."
        )
    warn, action = 2.0 * sep, 3.0 * sep
    beyond_action = [int(i) for i in np.flatnonzero(np.abs(d) > action)]
    beyond_warning = [int(i) for i in np.flatnonzero(np.abs(d) > warn)]
    two_of_three = []
    for i in range(2, d.size):
        window = d[i - 2 : i + 1]
        if (window > warn).sum() >= 2 or (window < -warn).sum() >= 2:
            two_of_three.append(i)
    runs = []
    sign = np.sign(d)
    count = 0
    for i in range(d.size):
        count = count + 1 if i and sign[i] != 0 and sign[i] == sign[i - 1] else (1 if sign[i] != 0 else 0)
        if count >= run_length:
            runs.append(i)
    if beyond_action or two_of_three or runs:
        verdict = "out of control"
    elif beyond_warning:
        verdict = "warning"
    else:
        verdict = "in control"
    return {
        "n": int(d.size),
        "sep": float(sep),
        "warning_limits": [-warn, warn],
        "action_limits": [-action, action],
        "run_length": int(run_length),
        "mean_difference": float(d.mean()),
        "beyond_action": beyond_action,
        "beyond_warning": beyond_warning,
        "two_of_three_beyond_warning": two_of_three,
        "run_on_one_side": runs,
        "verdict": verdict,
    }
