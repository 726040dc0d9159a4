"""scikit-learn's estimator protocol without importing scikit-learn.

Why this module exists: ``import sklearn`` (any part of it: ``sklearn.base`` pulls
``sklearn.utils`` → … → ``scipy.stats``) costs about 1.2 s, more than everything else a
``nirs run`` does on a few hundred spectra. Issue 12 asks that a run imports what its template
needs and nothing more, so the project's operators, models and splitters follow scikit-learn's
protocol here by duck typing instead of subclassing ``sklearn.base``. The house style
(``style.md``) shows operators subclassing scikit-learn's mixins; for this import cost the
issue overrides it, and the classes below take their place with the same names and the same
behaviour:

- :class:`BaseEstimator`: ``get_params(deep)`` / ``set_params`` (nested ``a__b``), the
  parameter names read from the ``__init__`` signature, a repr of the changed parameters,
  ``__sklearn_clone__`` and ``__sklearn_tags__``.
- :class:`TransformerMixin` (``fit_transform``), :class:`RegressorMixin` (``score``: R²),
  :class:`ClassifierMixin` (``score``: accuracy), :class:`MultiOutputMixin`,
  :class:`OneToOneFeatureMixin` (``get_feature_names_out``), :class:`BaseCrossValidator`.
- :func:`validate_data`, :func:`check_array`, :func:`check_is_fitted`,
  :func:`check_random_state`, :func:`check_classification_targets`, :func:`clone`,
  :func:`get_tags`, :func:`is_classifier`.

Tags are built lazily: ``__sklearn_tags__`` returns scikit-learn's own ``Tags`` when
scikit-learn is imported (it is the one asking, so it is in use), else a stand-in with the
same fields (:class:`Tags`) that the engine reads (``requires_fit``, ``estimator_type``).

The validation helpers take a fast path for what the engine passes (a float numpy array that
passes every check, as scikit-learn would return it unchanged: ``np.asarray`` with the asked
dtype and order) and hand every other input to scikit-learn's own function, imported then.
So a DataFrame, a list, a sparse matrix, a NaN, a wrong width or dtype gets exactly
scikit-learn's conversion, warning or error, and the contract suite
(``parametrize_with_checks``) sees scikit-learn's behaviour wherever it probes.
"""

from __future__ import annotations

import abc
import copy
import functools
import inspect
import sys
import types
from collections import defaultdict
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np

__all__ = [
    "BaseCrossValidator",
    "BaseEstimator",
    "ClassifierMixin",
    "MultiOutputMixin",
    "OneToOneFeatureMixin",
    "RegressorMixin",
    "Tags",
    "TransformerMixin",
    "check_array",
    "check_classification_targets",
    "check_is_fitted",
    "check_random_state",
    "clone",
    "get_tags",
    "is_classifier",
    "sklearn_in_use",
    "validate_data",
]


def sklearn_in_use() -> bool:
    """Whether scikit-learn is imported in this process (an object can only be one of its
    estimators, or a caller be one of its tools, if it is)."""
    return "sklearn" in sys.modules


# ------------------------------------------------------------------------------------- tags


@dataclass(slots=True)
class InputTags:
    one_d_array: bool = False
    two_d_array: bool = True
    three_d_array: bool = False
    sparse: bool = False
    categorical: bool = False
    string: bool = False
    dict: bool = False
    positive_only: bool = False
    allow_nan: bool = False
    pairwise: bool = False


@dataclass(slots=True)
class TargetTags:
    required: bool
    one_d_labels: bool = False
    two_d_labels: bool = False
    positive_only: bool = False
    multi_output: bool = False
    single_output: bool = True


@dataclass(slots=True)
class TransformerTags:
    preserves_dtype: list[str] = field(default_factory=lambda: ["float64"])


@dataclass(slots=True)
class ClassifierTags:
    poor_score: bool = False
    multi_class: bool = True
    multi_label: bool = False


@dataclass(slots=True)
class RegressorTags:
    poor_score: bool = False


@dataclass(slots=True)
class Tags:
    """The fields of ``sklearn.utils.Tags`` (scikit-learn ≥ 1.6), used while scikit-learn
    is not imported."""

    estimator_type: str | None
    target_tags: TargetTags
    transformer_tags: TransformerTags | None = None
    classifier_tags: ClassifierTags | None = None
    regressor_tags: RegressorTags | None = None
    array_api_support: bool = False
    no_validation: bool = False
    non_deterministic: bool = False
    requires_fit: bool = True
    _skip_test: bool = False
    input_tags: InputTags = field(default_factory=InputTags)


def _tag_classes():
    """(Tags, TargetTags, TransformerTags, ClassifierTags, RegressorTags): scikit-learn's when
    it is imported (whoever asks is then likely scikit-learn), else this module's."""
    if sklearn_in_use():
        import sklearn.utils as sku

        return sku.Tags, sku.TargetTags, sku.TransformerTags, sku.ClassifierTags, sku.RegressorTags
    return Tags, TargetTags, TransformerTags, ClassifierTags, RegressorTags


def get_tags(estimator: Any):
    """The tags of ``estimator``: ``sklearn.utils.get_tags`` when scikit-learn is imported,
    else ``estimator.__sklearn_tags__()`` (an object without it raises AttributeError)."""
    if sklearn_in_use():
        from sklearn.utils import get_tags as sk_get_tags

        return sk_get_tags(estimator)
    if isinstance(estimator, type):
        raise TypeError(f"Expected an estimator instance ({estimator.__name__}()), got the class.")
    return estimator.__sklearn_tags__()


def is_classifier(estimator: Any) -> bool:
    """Whether ``estimator`` is a classifier (its tags' ``estimator_type``)."""
    if sklearn_in_use():
        from sklearn.base import is_classifier as sk_is_classifier

        return sk_is_classifier(estimator)
    return get_tags(estimator).estimator_type == "classifier"


# ------------------------------------------------------------------------------ base classes


class BaseEstimator:
    """Parameters, repr, clone and tags as ``sklearn.base.BaseEstimator``: ``__init__`` only
    stores its arguments, each under its own name."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        init = getattr(cls.__init__, "deprecated_original", cls.__init__)
        if init is object.__init__:
            return []
        parameters = [
            p
            for p in inspect.signature(init).parameters.values()
            if p.name != "self" and p.kind != p.VAR_KEYWORD
        ]
        for p in parameters:
            if p.kind == p.VAR_POSITIONAL:
                raise RuntimeError(
                    "scikit-learn estimators should always specify their parameters in the signature of "
                    f"their __init__ (no varargs). {cls} with constructor {inspect.signature(init)} doesn't "
                    "follow this convention."
                )
        return sorted(p.name for p in parameters)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameter names mapped to their values; ``deep`` adds nested ``name__param`` keys."""
        out: dict[str, Any] = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{key}__{k}", v) for k, v in value.get_params().items())
            out[key] = value
        return out

    def set_params(self, **params: Any):
        """Set parameters (``name`` or nested ``name__param``); returns ``self``."""
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = defaultdict(dict)
        for key, value in params.items():
            key, delim, sub_key = key.partition("__")
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {self}. "
                    f"Valid parameters are: {self._get_param_names()!r}."
                )
            if delim:
                nested[key][sub_key] = value
            else:
                setattr(self, key, value)
                valid[key] = value
        for key, sub_params in nested.items():
            valid[key].set_params(**sub_params)
        return self

    def _changed_params(self) -> dict[str, Any]:
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        changed = {}
        for key, value in self.get_params(deep=False).items():
            default = defaults.get(key, inspect.Parameter.empty)
            if default is inspect.Parameter.empty or repr(value) != repr(default):
                changed[key] = value
        return changed

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._changed_params().items())
        return f"{type(self).__name__}({args})"

    def __sklearn_clone__(self):
        return _clone_parametrized(self)

    def __sklearn_tags__(self):
        tags, target, *_ = _tag_classes()
        return tags(
            estimator_type=None,
            target_tags=target(required=False),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=None,
        )


_OUTPUTS = ("default", "pandas", "polars")


def _transform_output(est: Any) -> str:
    """The container ``transform`` returns: ``set_output``'s, else scikit-learn's global
    ``transform_output`` (only if scikit-learn is imported: nobody can have set it otherwise)."""
    config = getattr(est, "_sklearn_output_config", {}).get("transform")
    if config is None:
        config = "default"
        if sklearn_in_use():
            import sklearn

            config = sklearn.get_config()["transform_output"]
    if config not in _OUTPUTS:
        raise ValueError(f"output config must be in {sorted(_OUTPUTS)}, got {config}")
    return config


def _container(data: Any, original: Any, est: Any, config: str) -> Any:
    """``data`` as a pandas or polars DataFrame named by ``get_feature_names_out``, with the
    index of a pandas input (scikit-learn's ``set_output`` containers)."""
    try:
        names = est.get_feature_names_out()
    except Exception:  # as scikit-learn: a transformer that cannot name its outputs gets none
        names = None
    columns = None if names is None else [str(n) for n in names]
    if config == "polars":
        import polars as pl

        if isinstance(data, pl.DataFrame):
            return data if columns is None else data.rename(dict(zip(data.columns, columns, strict=True)))
        return pl.DataFrame(data, schema=columns, orient="row")
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        index = data.index
    else:
        index = original.index if isinstance(original, pd.DataFrame) else None
    frame = pd.DataFrame(data, index=index, copy=True)
    if columns is not None:
        frame.columns = columns
    return frame


def _wrap_output(method: Any) -> Any:
    """``method`` (a ``transform`` or ``fit_transform``) returning the ``set_output`` container;
    unchanged output (the same object) in the default configuration."""
    if getattr(method, "_nirs_output_wrapped", False):
        return method

    @functools.wraps(method)
    def wrapped(self, X, *args, **kwargs):
        out = method(self, X, *args, **kwargs)
        if not hasattr(self, "get_feature_names_out"):
            return out
        config = _transform_output(self)
        if config == "default":
            return out
        if isinstance(out, tuple):  # cross decomposition: only the X part
            return (_container(out[0], X, self, config), *out[1:])
        return _container(out, X, self, config)

    wrapped._nirs_output_wrapped = True
    return wrapped


class _AvailableWithNames:
    """A method that exists only on instances with ``get_feature_names_out`` (scikit-learn's
    ``set_output`` is ``available_if`` the same condition)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self.fn
        if not hasattr(obj, "get_feature_names_out"):
            raise AttributeError(f"This {type(obj).__name__!r} has no attribute {self.fn.__name__!r}")
        return types.MethodType(self.fn, obj)


class TransformerMixin:
    """``fit_transform``, ``set_output`` and the transformer tags, as
    ``sklearn.base.TransformerMixin``: ``transform`` and ``fit_transform`` of every subclass
    return a pandas or polars DataFrame when ``set_output`` (or scikit-learn's global
    configuration) asks for one and the transformer names its outputs."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("transform", "fit_transform"):
            if name in cls.__dict__:
                setattr(cls, name, _wrap_output(cls.__dict__[name]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags = _tag_classes()[2]()
        return tags

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X, y, **fit_params).transform(X)``."""
        if y is None:
            return self.fit(X, **fit_params).transform(X)
        return self.fit(X, y, **fit_params).transform(X)

    @_AvailableWithNames
    def set_output(self, *, transform=None):
        """Set the container of ``transform``'s output: ``"default"`` (numpy), ``"pandas"``,
        ``"polars"``, or None (unchanged). Returns ``self``."""
        if transform is None:
            return self
        if not hasattr(self, "_sklearn_output_config"):
            self._sklearn_output_config = {}
        self._sklearn_output_config["transform"] = transform
        return self


TransformerMixin.fit_transform = _wrap_output(TransformerMixin.fit_transform)


class RegressorMixin:
    """The regressor tags and ``score`` (R²), as ``sklearn.base.RegressorMixin``."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.regressor_tags = _tag_classes()[4]()
        tags.target_tags.required = True
        return tags

    def score(self, X, y, sample_weight=None) -> float:
        """Coefficient of determination R² of ``predict(X)`` against ``y`` (averaged over
        targets), as ``sklearn.metrics.r2_score``."""
        return r2_score(y, self.predict(X), sample_weight=sample_weight)


class ClassifierMixin:
    """The classifier tags and ``score`` (accuracy), as ``sklearn.base.ClassifierMixin``."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = _tag_classes()[3]()
        tags.target_tags.required = True
        return tags

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy of ``predict(X)`` against ``y``, as ``sklearn.metrics.accuracy_score``."""
        y_true = np.asarray(y)
        y_pred = np.asarray(self.predict(X))
        if y_true.ndim != 1 or y_pred.shape != y_true.shape or y_true.dtype.kind not in "iubUSO":
            from sklearn.metrics import accuracy_score  # multi-label and odd inputs: its rules

            return float(accuracy_score(y, y_pred, sample_weight=sample_weight))
        return float(np.average(y_true == y_pred, weights=sample_weight))


class MultiOutputMixin:
    """Marks an estimator that fits several targets at once (``target_tags.multi_output``)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class OneToOneFeatureMixin:
    """``get_feature_names_out`` for a transformer whose output columns are its input columns."""

    def get_feature_names_out(self, input_features=None):
        """The input feature names (``feature_names_in_``, else ``x0, x1, …``); as scikit-learn's
        (delegated to it: names are asked for by DataFrame tooling, which imports it anyway)."""
        from sklearn.base import OneToOneFeatureMixin as SkOneToOne

        return SkOneToOne.get_feature_names_out(self, input_features)


class BaseCrossValidator(abc.ABC):
    """A splitter: ``split(X, y=None, groups=None)`` yields ``(train, test)`` index arrays;
    ``get_n_splits``; repr of every parameter, like scikit-learn's splitters. Subclasses
    implement ``get_n_splits`` (abstract: a class without it cannot be made) and either
    ``split`` or the hook ``split`` calls, ``_iter_test_indices`` (optional, so not abstract:
    a splitter that writes its own ``split`` has no use for it, as in scikit-learn)."""

    def split(self, X, y=None, groups=None):
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        indices = np.arange(n)
        for test_index in self._iter_test_indices(X, y, groups):
            mask = np.zeros(n, dtype=bool)
            mask[test_index] = True
            yield indices[~mask], indices[mask]

    def _iter_test_indices(self, X=None, y=None, groups=None):
        raise TypeError(f"{type(self).__name__} implements neither split nor _iter_test_indices.")

    @abc.abstractmethod
    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of (train, test) pairs ``split`` yields."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return BaseEstimator._get_param_names.__func__(cls)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={getattr(self, k, None)!r}" for k in self._get_param_names())
        return f"{type(self).__name__}({params})"


# ------------------------------------------------------------------------------------- clone


def clone(estimator: Any, *, safe: bool = True):
    """A new unfitted estimator with the same parameters, as ``sklearn.base.clone`` (which is
    used when scikit-learn is imported: the object may then be one of its estimators)."""
    if sklearn_in_use():
        from sklearn.base import clone as sk_clone

        return sk_clone(estimator, safe=safe)
    if hasattr(estimator, "__sklearn_clone__") and not inspect.isclass(estimator):
        return estimator.__sklearn_clone__()
    return _clone_parametrized(estimator, safe=safe)


def _clone_parametrized(estimator: Any, *, safe: bool = True):
    kind = type(estimator)
    if kind is dict:
        return {k: clone(v, safe=safe) for k, v in estimator.items()}
    if kind in (list, tuple, set, frozenset):
        return kind([clone(e, safe=safe) for e in estimator])
    if not hasattr(estimator, "get_params") or isinstance(estimator, type):
        if not safe:
            return copy.deepcopy(estimator)
        if isinstance(estimator, type):
            raise TypeError(
                "Cannot clone object. You should provide an instance of scikit-learn estimator instead of a class."
            )
        raise TypeError(
            f"Cannot clone object '{estimator!r}' (type {type(estimator)}): it does not seem to be a "
            "scikit-learn estimator as it does not implement a 'get_params' method."
        )
    params = estimator.get_params(deep=False)
    for name, param in params.items():
        params[name] = clone(param, safe=False)
    new = type(estimator)(**params)
    try:
        new._metadata_request = copy.deepcopy(estimator._metadata_request)
    except AttributeError:
        pass
    given = new.get_params(deep=False)
    for name in params:
        if params[name] is not given[name]:
            raise RuntimeError(
                f"Cannot clone object {estimator}, as the constructor either does not set or modifies "
                f"parameter {name}"
            )
    if hasattr(estimator, "_sklearn_output_config"):
        new._sklearn_output_config = copy.deepcopy(estimator._sklearn_output_config)
    return new


# -------------------------------------------------------------------------------- validation

_NOT_GIVEN = "no_validation"
# what the fast path handles besides the defaults: every other keyword goes to scikit-learn
_FAST_KEYS = frozenset(
    {"dtype", "order", "ensure_all_finite", "ensure_min_samples", "multi_output", "y_numeric"}
)


def _plain(a: Any) -> bool:
    """A numpy array that is not a matrix (``np.memmap`` included, as scikit-learn reads it)."""
    return isinstance(a, np.ndarray) and not isinstance(a, np.matrix)


def _fast_array(X: Any, dtype: Any, order: str | None, finite: bool, min_samples: int) -> np.ndarray | None:
    """``X`` exactly as ``check_array`` returns it, when ``X`` is a 2-D float array that
    passes every check; None when scikit-learn must decide (convert, warn or raise)."""
    if not _plain(X) or X.ndim != 2 or X.dtype.kind != "f":
        return None
    if dtype is None:
        target = X.dtype
    elif isinstance(dtype, (list, tuple)):
        if X.dtype not in dtype:
            return None
        target = X.dtype
    elif np.dtype(dtype) == X.dtype:
        target = X.dtype
    else:
        return None
    if X.shape[0] < min_samples or X.shape[1] < 1:
        return None
    if finite and X.size and not np.isfinite(X.sum()):  # NaN/inf propagate into the sum
        return None
    return np.asarray(X, dtype=target, order=order)


def _fast_y(y: Any, n: int, multi_output: bool) -> np.ndarray | None:
    """``y`` as ``check_X_y`` returns it for a finite numeric 1-D array (2-D with
    ``multi_output``) of ``n`` rows; None when scikit-learn must decide."""
    if not _plain(y) or y.shape[:1] != (n,) or y.dtype.kind not in "fiu":
        return None
    if y.ndim != 1 and not (multi_output and y.ndim == 2):
        return None
    if y.dtype.kind == "f" and y.size and not np.isfinite(y.sum()):
        return None
    return np.asarray(y) if multi_output else np.ravel(y)


def check_array(array: Any, **params: Any):
    """``sklearn.utils.check_array``: a finite float array with the asked dtype/order is
    returned as scikit-learn would return it; anything else goes to scikit-learn."""
    if set(params) <= _FAST_KEYS | {"input_name", "estimator"} and params.get("ensure_all_finite", True) in (
        True,
        False,
    ):
        dtype = params.get("dtype", "numeric")
        out = _fast_array(
            array,
            None if isinstance(dtype, str) and dtype == "numeric" else dtype,
            params.get("order"),
            params.get("ensure_all_finite", True),
            params.get("ensure_min_samples", 1),
        )
        if out is not None:
            return out
    from sklearn.utils import check_array as sk_check_array

    return sk_check_array(array, **params)


def validate_data(
    estimator: Any, /, X: Any = _NOT_GIVEN, y: Any = _NOT_GIVEN, reset: bool = True, **params: Any
):
    """``sklearn.utils.validation.validate_data``: validate ``X`` (and ``y``) and set or check
    ``n_features_in_``. The fast path covers finite float arrays of the right width (the
    engine's input); every other case, and every failure, is scikit-learn's."""
    out = _fast_validate(estimator, X, y, reset, params)
    if out is not None:
        return out
    from sklearn.utils.validation import validate_data as sk_validate_data

    return sk_validate_data(estimator, X, y, reset=reset, **params)


def _fast_validate(estimator: Any, X: Any, y: Any, reset: bool, params: dict) -> Any:
    if not set(params) <= _FAST_KEYS or isinstance(X, str) or y is None:
        return None
    dtype = params.get("dtype", "numeric")
    if isinstance(dtype, str) and dtype == "numeric":
        dtype = None  # a float array stays as it is
    finite = params.get("ensure_all_finite", True)
    if finite not in (True, False):
        return None  # "allow-nan": scikit-learn's rules
    Xv = _fast_array(X, dtype, params.get("order"), finite, params.get("ensure_min_samples", 1))
    if Xv is None:
        return None
    if not reset:
        expected = getattr(estimator, "n_features_in_", None)
        if getattr(estimator, "feature_names_in_", None) is not None:
            return None  # fitted on a DataFrame: scikit-learn warns about the missing names
        if expected is not None and expected != Xv.shape[1]:
            return None
    out: Any = Xv
    if not (isinstance(y, str) and y == _NOT_GIVEN):
        yv = _fast_y(y, Xv.shape[0], bool(params.get("multi_output", False)))
        if yv is None:
            return None
        out = Xv, yv
    if reset:
        if hasattr(estimator, "feature_names_in_"):
            delattr(estimator, "feature_names_in_")  # scikit-learn forgets old names on refit
        estimator.n_features_in_ = Xv.shape[1]
    return out


def check_is_fitted(
    estimator: Any, attributes: Any = None, *, msg: str | None = None, all_or_any=all
) -> None:
    """``sklearn.utils.validation.check_is_fitted``: returns when ``estimator`` has a fitted
    attribute (a name ending in ``_``, or ``__sklearn_is_fitted__()``); otherwise scikit-learn
    raises its ``NotFittedError`` (or ``TypeError``)."""
    if attributes is None and msg is None and hasattr(estimator, "fit") and not isinstance(estimator, type):
        if hasattr(estimator, "__sklearn_is_fitted__"):
            if estimator.__sklearn_is_fitted__():
                return
        elif any(v.endswith("_") and not v.startswith("__") for v in vars(estimator)):
            return
    from sklearn.utils.validation import check_is_fitted as sk_check_is_fitted

    sk_check_is_fitted(estimator, attributes, msg=msg, all_or_any=all_or_any)


def check_random_state(seed: Any) -> np.random.RandomState:
    """``sklearn.utils.check_random_state``: None → numpy's global RandomState, an int → a
    new ``RandomState(seed)``, a RandomState → itself."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, Integral) and not isinstance(seed, bool):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    from sklearn.utils import check_random_state as sk_check_random_state  # its error

    return sk_check_random_state(seed)


def check_classification_targets(y: Any) -> None:
    """``sklearn.utils.multiclass.check_classification_targets``: integer, boolean and text
    labels in a 1-D array pass; anything else is judged by scikit-learn."""
    if _plain(y) and y.ndim == 1 and y.dtype.kind in "iubUS" and y.size:
        return
    from sklearn.utils.multiclass import check_classification_targets as sk_check

    sk_check(y)


def r2_score(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """R² averaged uniformly over targets, as ``sklearn.metrics.r2_score`` (1.0 for a perfect
    fit of a constant target, 0.0 for an imperfect one)."""
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    if yt.ndim == 1:
        yt = yt.reshape(-1, 1)
    if yp.ndim == 1:
        yp = yp.reshape(-1, 1)
    if yt.ndim != 2 or yt.shape != yp.shape or yt.shape[0] < 2:
        from sklearn.metrics import r2_score as sk_r2  # its errors and its warning for n < 2

        return float(sk_r2(y_true, y_pred, sample_weight=sample_weight))
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = 1.0 if sw is None else sw[:, None]
    numerator = (w * (yt - yp) ** 2).sum(axis=0)
    mean = np.average(yt, axis=0, weights=sw)
    denominator = (w * (yt - mean) ** 2).sum(axis=0)
    scores = np.ones(yt.shape[1])
    nonzero_num, nonzero_den = numerator != 0, denominator != 0
    valid = nonzero_num & nonzero_den
    scores[valid] = 1 - numerator[valid] / denominator[valid]
    scores[nonzero_num & ~nonzero_den] = 0.0
    return float(np.mean(scores))
