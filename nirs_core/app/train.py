"""Train a bundle: run a template on a dataset, pick the best config and write its refit model
as a signed bundle with its datasheet. The store writes bundles it is given
(:func:`nirs_core.store.bundle.write_bundle`); this layer adds the datasheet (reports) and the run
(engine)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nirs_core.app.run import run
from nirs_core.errors import ConfigError
from nirs_core.reports.datasheet import build_datasheet
from nirs_core.store import bundle as _bundle
from nirs_core.store._atomic import cleanup_partial_of, pid_alive
from nirs_core.store.bundle import parts_from_workspace
from nirs_core.store.signing import SIGNING_KEY_FILE_ENV, resolve_signer

__all__ = ["latent_variable_curve", "train_bundle", "write_bundle"]

_SCRATCH_PREFIX = "nirs-train-"


def _remove_stale_scratch() -> list[Path]:
    """Remove the scratch workspaces of ``train`` processes that were killed (the pid in the
    folder's name is not running any more); return them."""
    import re
    import shutil
    import tempfile

    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{_SCRATCH_PREFIX}*-*"):
        match = re.fullmatch(rf"{_SCRATCH_PREFIX}(\d+)-.+", folder.name)
        if match and folder.is_dir() and not pid_alive(int(match[1])):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def write_bundle(
    source: Any,
    path: str | os.PathLike[str],
    *,
    datasheet: bool | Mapping[str, Any] = True,
    **options: Any,
) -> Path:
    """:func:`nirs_core.store.bundle.write_bundle` with the datasheet built by
    :func:`nirs_core.reports.datasheet.build_datasheet` (``datasheet=True``, the default), left
    out (``False``) or prebuilt (a mapping)."""
    builder = build_datasheet if datasheet is True else datasheet
    return _bundle.write_bundle(source, path, datasheet=builder, **options)


def _blank_components(config: Any) -> tuple[str, int] | None:
    """(the config with its final model's n_components blanked, that n_components), or None."""
    import json

    if not isinstance(config, list) or not config or not isinstance(config[-1], Mapping):
        return None
    model = config[-1].get("model")
    if not isinstance(model, Mapping) or "n_components" not in (model.get("params") or {}):
        return None
    params = {**model["params"], "n_components": None}
    blanked = [*config[:-1], {**config[-1], "model": {**model, "params": params}}]
    return json.dumps(blanked, sort_keys=True, default=str), int(model["params"]["n_components"])


def latent_variable_curve(results: Sequence[Mapping[str, Any]], best: Mapping[str, Any]) -> dict[str, Any]:
    """``{"n_components", "rmsecv_curve": [[a, cv_score], ...]}`` of the configs of the best
    one's dataset that differ from it only in the final model's ``n_components`` (why that many
    latent variables: the datasheet plots the curve); ``{}`` when the best has none."""
    key = _blank_components(best.get("config"))
    if key is None:
        return {}
    curve = []
    for r in results:
        other = _blank_components(r.get("config"))
        if (
            r.get("dataset") == best.get("dataset")
            and other
            and other[0] == key[0]
            and r.get("cv_score") is not None
        ):
            curve.append([other[1], float(r["cv_score"])])
    return {"n_components": key[1], "rmsecv_curve": sorted(curve)}


def train_bundle(
    template: str | os.PathLike[str],
    data: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    workspace: str | os.PathLike[str] | None = None,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    sign: bool = True,
    fits: str | Sequence[str] = "refit",
    progress: bool = False,
) -> dict[str, Any]:
    """Run ``template`` on ``data`` (:func:`nirs_core.app.run.run`), pick the config with
    the best ``cv_score`` (in its metric's direction, :meth:`Run.best`) and bundle its refit
    model (already in the run's result) to ``output``. Without ``workspace`` a temporary one
    is used and removed. Returns ``{"bundle", "run_id", "workspace", "best", "n_configs",
    "predictions"}`` (the best config's prediction rows)."""
    import tempfile

    from nirs_core.data import load

    if sign:  # fail before training when the bundle could not be signed
        if resolve_signer(key, key_file) is None:
            raise ConfigError(
                "train: no signing key; make one with `nirs keys generate` and pass it with --key-file "
                f"(or set ${SIGNING_KEY_FILE_ENV}), or ask for an unsigned bundle (--unsigned)."
            )
    cleanup_partial_of(output)  # what a killed earlier `nirs train -o` left beside the bundle
    _remove_stale_scratch()
    with tempfile.TemporaryDirectory(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-") as scratch:
        root = Path(workspace) if workspace is not None else Path(scratch) / "workspace"
        result = run(templates=[str(template)], datasets=[str(data)], workspace=root, progress=progress)
        best = result.best(by="cv_score")
        parts = parts_from_workspace(result.workspace, result.run_id, best["dataset"], best["config_id"])
        parts["info"] = {**(parts.get("info") or {}), **latent_variable_curve(result.results, best)}
        path = write_bundle(
            parts,
            output,
            key=key,
            key_file=key_file,
            sign=sign,
            fits=fits,
            dataset=load(data),
            template=parts.get("template_text"),
        )
        return {
            "bundle": path,
            "run_id": result.run_id,
            "workspace": str(root) if workspace is not None else None,
            "best": best,
            "n_configs": len(result.results),
            "predictions": parts["predictions"],
        }
