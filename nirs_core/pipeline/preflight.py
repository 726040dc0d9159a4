"""Validate before computing: every config checked against the shape of every dataset.

:func:`preflight` runs after the templates are expanded and the datasets loaded, before a run
writes anything. It walks each config the way the executor would, but with shapes instead of
arrays (per lane, per source: the number of features and the wavelength axis), and raises one
``ConfigError`` for the first parameter that cannot hold, naming the template file, the path in
the config, the config, the dataset, what was expected and what was found::

    pls.yaml: steps[1].params.window_length: config 0000_SG_PLS_1f0c9a2e, dataset 'corn'
    (source 'x', 700 features): SavitzkyGolay: window_length: expected at most the number of
    features (700); found 701.

The line between the two ways a config can fail on a dataset (``docs/runs.md``):

- **structural**: impossible whatever the fold, decided by the dataset's shape alone: a window
  longer than the spectrum, a wavelength range outside the axis, a reference spectrum of the
  wrong length, a splitter that cannot split the calibration rows (more folds than rows, a
  group splitter without groups or with fewer groups than folds, a stratified splitter on a
  continuous target), ``y_processing`` on a classification target, a dataset without targets or
  without calibration rows. These are errors here: the template is wrong for this data, and
  nothing is written.
- **capacity**: limits that depend on the training rows of a fold (a model's ``n_components``
  above the rank of a fold, a singular fit). The preflight does not check them: they are found
  by the computation itself and become *failed results*; the run goes on (issue 12: "a sweep
  whose last configs ask for more components than a dataset allows" must not stop the run).

Where the shapes come from: an operator declares the bounds its parameters put on the shape
beside those parameters, in an optional method of its class (so a new operator adds its own,
and this module holds no table of class names)::

    def _nirs_shape(self, n_features, wavelengths):
        # raise nirs_core.errors.ShapeError(owner, param, expected, found) when a parameter
        # cannot hold on spectra of this width and axis (the axis is the channel index
        # 0..n-1 when the data has none); return None when the output has the input's shape,
        # else (n_features_out, wavelengths_out), with None for what is not known in advance.

The project's kernel operators also run their own parameter checks, given the width
(``_check_params(n_features)``, what ``fit`` runs first), so a parameter that no data allows
(an even Savitzky-Golay window) fails here too, before the run. An operator without the method
keeps the shape when it is one-to-one (scikit-learn's ``OneToOneFeatureMixin``) or a row
filter; after any other (a selector, PCA) the width is unknown and the later shape checks of
that lane are skipped, never guessed. Splitters are checked by making the folds exactly as the
executor does (the ``split`` step's ``prepare``), once per distinct split step and dataset.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nirs_core.errors import ConfigError, NirsError
from nirs_core.pipeline.config import PipelineConfig
from nirs_core.pipeline.serialize import canonical_json, classify_step, from_canonical
from nirs_core.registry import allowing

__all__ = ["preflight"]


@dataclass(frozen=True)
class _Block:
    """The shape of one feature block of a lane: its source, width and axis (None: unknown)."""

    source: str
    n_features: int | None
    axis: np.ndarray | None


_UNKNOWN = None  # a lane whose blocks are not known (after stacking, an unknown keyword step)


def preflight(configs: Sequence[tuple[PipelineConfig, str]], datasets: Sequence[tuple[str, Any]]) -> None:
    """Check every ``(config, where)`` against every ``(label, SpectroDataset)``; ``where`` is
    the template file (or ``templates[i]``), ``label`` how the dataset is named in errors.
    Raises the first structural error (module docstring) as ``ConfigError``; returns None."""
    for label, ds in datasets:
        _check_dataset(label, ds)
        splits: dict[tuple[str, str], ConfigError | None] = {}
        for cfg, where in configs:
            with allowing(cfg.allowed_modules):
                _Walk(cfg, where, label, ds, splits).run()


def _check_dataset(label: str, ds: Any) -> None:
    """What every pipeline needs of a dataset (the executor's own requirements)."""
    if ds.task is None:
        raise ConfigError(f"dataset {label}: no targets; expected a target column to fit (found none).")
    partition = np.asarray(ds.index["partition"].to_list(), dtype=object)
    measured = ds.index["sample"].to_numpy() == ds.index["origin"].to_numpy()
    if not (measured & (partition == "train")).any():
        found = sorted({str(p) for p in partition}) or ["no rows"]
        raise ConfigError(
            f"dataset {label}: expected calibration rows (partition 'train'); found partitions {found}."
        )


class _Walk:
    """One config on one dataset, step by step, with shapes instead of arrays."""

    def __init__(
        self, cfg: PipelineConfig, where: str, label: str, ds: Any, splits: dict[tuple[str, str], Any]
    ) -> None:
        self.cfg, self.where, self.label, self.ds, self.splits = cfg, where, label, ds, splits

    def run(self) -> None:
        steps = self.cfg.steps
        for i, step in enumerate(steps):
            if isinstance(step, dict) and "split" in step and classify_step(step, f"steps[{i}]") == "split":
                self._split(step, f"steps[{i}]")
        lanes = [[self._input_block(s) for s in range(self.ds.n_sources)]]
        self._chain(steps, lanes, "steps")

    # ------------------------------------------------------------------ errors
    def _fail(self, path: str, exc: Exception, block: _Block | None = None) -> ConfigError:
        param = getattr(exc, "param", None)
        at = f"{path}.params.{param}" if param else path
        shape = ""
        if block is not None and block.n_features is not None:
            shape = f" (source {block.source!r}, {block.n_features} features)"
        return ConfigError(
            f"{self.where}: {at}: config {self.cfg.name}, dataset {self.label}{shape}: {_strip(exc, path)}"
        )

    # ------------------------------------------------------------------ the dataset's blocks
    def _input_block(self, s: int) -> _Block:
        n = int(self.ds.n_features[s])
        axis = np.asarray(self.ds.wavelengths(s), dtype=np.float64)
        # the executor's rule: several stored processings side by side have no single axis
        return _Block(self.ds.source_names[s], n, axis if axis.shape == (n,) else None)

    # ------------------------------------------------------------------ splits
    def _split(self, step: dict, path: str) -> None:
        # the folds made exactly as the executor makes them (no fit, no write), once per step
        from nirs_core.pipeline.steps._base import Env
        from nirs_core.pipeline.steps.split import _prepare_split

        key = (path, canonical_json(step))
        if key not in self.splits:
            env = Env(self.ds, "", self.ds.task, "plan", None)
            try:
                _prepare_split(step, path, env, True)
                self.splits[key] = None
            except ConfigError as exc:
                groups = self.ds.index["group"].to_list()
                if "groups" in str(exc) and all(g is None for g in groups):
                    # sklearn says "groups should not be None": say where groups come from
                    exc = ConfigError(
                        f"{exc} The dataset has no group column; expected one for this splitter "
                        "(give it with the dataset's 'group' option, e.g. {path: ..., group: batch})."
                    )
                self.splits[key] = exc
        exc = self.splits[key]
        if exc is not None:
            raise self._fail(f"{path}.split", exc) from exc

    # ------------------------------------------------------------------ steps
    def _chain(self, steps: Sequence[Any], lanes: list[Any], path: str) -> list[Any]:
        for i, step in enumerate(steps):
            lanes = self._step(step, lanes, f"{path}[{i}]")
        return lanes

    def _step(self, step: dict, lanes: list[Any], path: str) -> list[Any]:
        kind = classify_step(step, path)
        if kind == "operator":
            est = self._build(step, path)
            return [
                None if lane is _UNKNOWN else [self._operator(est, b, path) for b in lane] for lane in lanes
            ]
        payload = step[kind]
        if kind in ("split", "model"):
            return lanes  # splits are checked up front; a model's limits are capacity limits
        if kind == "y_processing":
            if self.ds.task != "regression":
                raise self._fail(
                    path,
                    ConfigError(
                        f"expected a regression target for y_processing; found a {self.ds.task} task."
                    ),
                )
            for j, op in enumerate(payload):
                if isinstance(op, dict) and "class" in op:
                    self._build(op, f"{path}.y_processing[{j}]")
            return lanes
        if kind == "feature_augmentation":
            return [self._side_by_side(payload, lane, f"{path}.{kind}") for lane in lanes]
        if kind == "sample_augmentation":
            for j, chain in enumerate(payload):
                self._chain(chain, list(lanes), f"{path}.{kind}[{j}]")
            return lanes  # new rows, the same features
        if kind == "branch":
            items = payload.items() if isinstance(payload, dict) else enumerate(payload)
            out: list[Any] = []
            for name, chain in items:
                sub = f"{path}.branch[{name!r}]" if isinstance(payload, dict) else f"{path}.branch[{name}]"
                for lane in lanes:
                    out.extend(self._chain(chain, [lane], sub))
            return out
        if kind == "merge" and payload == "features":
            return [_concat(lanes)]
        return [_UNKNOWN]  # stacking (features become predictions) or a step kind unknown here

    def _side_by_side(self, chains: Sequence[Any], lane: Any, path: str) -> Any:
        outs = [self._chain(chain, [lane], f"{path}[{j}]")[0] for j, chain in enumerate(chains)]
        if lane is _UNKNOWN or any(o is _UNKNOWN for o in outs):
            return _UNKNOWN
        if len(outs) == 1:
            return outs[0]
        return _concat([outs[0], *outs[1:]])

    def _build(self, op: dict, path: str) -> Any:
        try:
            return from_canonical(op)
        except (ConfigError, TypeError, ValueError) as exc:
            raise self._fail(path, exc) from exc

    def _operator(self, est: Any, block: _Block, path: str) -> _Block:
        n = block.n_features
        if n is None:
            return _Block(block.source, None, None)
        axis = block.axis if block.axis is not None else np.arange(n, dtype=np.float64)
        hook = getattr(est, "_nirs_shape", None)
        try:
            out = hook(n, axis) if hook is not None else None
            if _is_kernel_operator(est):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # what the data rules out was decided above
                    est._check_params(n)
        except (NirsError, ValueError) as exc:  # DataError too: EMSC needs two features
            raise self._fail(path, exc, block) from exc
        if out is not None:
            n_out, axis_out = out
            return _Block(block.source, None if n_out is None else int(n_out), axis_out)
        if _one_to_one(est) or getattr(est, "_nirs_role", None) == "filter":
            return block
        return _Block(block.source, None, None)  # a selector, a projection: width unknown


# By name and attribute, not isinstance: the preflight imports no estimator base class, so that
# a run imports only what its templates name (and a stand-in for scikit-learn's mixins passes).
def _is_kernel_operator(est: Any) -> bool:
    """The project's kernel transformers: ``_check_params(n_features)`` is their width check."""
    return hasattr(type(est), "_kernel") and callable(getattr(est, "_check_params", None))


def _one_to_one(est: Any) -> bool:
    """One output feature per input feature (scikit-learn's ``OneToOneFeatureMixin``)."""
    return any(c.__name__ == "OneToOneFeatureMixin" for c in type(est).__mro__)


def _concat(lanes: list[Any]) -> Any:
    """Lanes side by side, per source (merge 'features', feature_augmentation)."""
    if any(lane is _UNKNOWN for lane in lanes):
        return _UNKNOWN
    out = []
    for parts in zip(*lanes):
        widths = [b.n_features for b in parts]
        n = None if any(w is None for w in widths) else sum(widths)  # type: ignore[arg-type]
        out.append(_Block(parts[0].source, n, None))
    return out


def _strip(exc: Exception, path: str) -> str:
    """The error's message without a leading copy of ``path`` (the preflight names it)."""
    text = str(exc)
    return text[len(path) + 2 :] if text.startswith(f"{path}: ") else text
