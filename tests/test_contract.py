"""The contract every registered estimator (operator or model) keeps.

1. scikit-learn's own suite, ``parametrize_with_checks``. A class may list the checks it is
   expected to fail, each with its reason, in a class attribute ``_contract_xfail``
   (``{check_name: reason}``), and constructor overrides for the suite in ``_contract_params``.
2. The project's checks, on real spectra: read-only input is never modified; clone and pickle
   round trip; and the replay contract: ``replay_spec()`` returns ``("module:function", kwargs)``
   and ``function(X, **kwargs)`` equals ``transform(X)`` (or ``predict(X)``) bit for bit. That
   function is what a bundle replays, on numpy alone.
"""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from nirs_core.estimator import BaseEstimator
from nirs_core.operators import available


def _estimator_classes() -> list[type]:
    seen: dict[str, type] = {}
    for cls in available().values():
        if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
            continue  # splitters are not estimators
        if not cls.__module__.startswith("nirs_core."):
            continue
        seen[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [seen[k] for k in sorted(seen)]


CLASSES = _estimator_classes()


def _instance(cls: type) -> BaseEstimator:
    return cls(**getattr(cls, "_contract_params", {}))


def _expected_failures(estimator: BaseEstimator) -> dict[str, str]:
    return dict(getattr(type(estimator), "_contract_xfail", {}))


def test_registry_is_not_empty():
    assert CLASSES, "no estimator is registered"


@parametrize_with_checks([_instance(c) for c in CLASSES], expected_failed_checks=_expected_failures)
def test_sklearn_contract(estimator, check):
    check(estimator)


def _data(cls, corn_arrays):
    X = corn_arrays["Xcal"].copy()
    y = corn_arrays["ycal"].copy()
    est = _instance(cls)
    if is_classifier(est):
        y = np.where(y > np.median(y), "high", "low")
    return est, X, y


def _output(est, X):
    if hasattr(est, "transform"):
        return est.transform(X)
    return est.predict(X)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_read_only_input_is_not_modified(cls, corn_arrays):
    est, X, y = _data(cls, corn_arrays)
    X.flags.writeable = False
    y.flags.writeable = False
    X_before, y_before = X.copy(), y.copy()
    est.fit(X, y)
    _output(est, X)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_clone_and_pickle_round_trip(cls, corn_arrays):
    est, X, y = _data(cls, corn_arrays)
    twin = clone(est)
    assert twin.get_params() == est.get_params() or set(twin.get_params()) == set(est.get_params())
    est.fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(_output(est, X), _output(restored, X))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_class_output_equals_kernel_output(cls, corn_arrays):
    est, X, y = _data(cls, corn_arrays)
    est.fit(X, y)
    target, kwargs = est.replay_spec()
    module_name, _, func_name = target.partition(":")
    kernel = getattr(importlib.import_module(module_name), func_name)
    expected = _output(est, X)
    got = kernel(X, **kwargs)
    assert np.array_equal(np.asarray(got), np.asarray(expected)), f"{cls.__name__}: kernel output differs"
    for key, value in kwargs.items():
        ok = isinstance(value, (np.ndarray, str, int, float, bool, type(None), list, tuple, dict))
        assert ok, f"{cls.__name__}.replay_spec: {key!r} is {type(value).__name__}, not array or JSON"


def test_kernel_modules_import_without_scikit_learn(corn_arrays):
    modules = set()
    for cls in CLASSES:
        est, X, y = _data(cls, corn_arrays)
        est.fit(X, y)
        modules.add(est.replay_spec()[0].partition(":")[0])
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in sorted(modules))
        + "bad = [m for m in ('sklearn', 'dagster', 'scipy.signal') if m in sys.modules]\n"
        + "assert not [m for m in bad if m != 'scipy.signal'], bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
