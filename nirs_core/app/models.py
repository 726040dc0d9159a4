"""Model registry use cases: register a trained bundle as a new version, promote a version to
an alias under the promotion policy, roll an alias back, open the version an alias points to.
The files and their lock are :mod:`nirs_core.store.models`.

The promotion policy compares a challenger with the alias's current holder (the champion):

- by the metric table (:func:`nirs_core.metrics.is_better`): the challenger's cross-validation
  and test scores of the selection metric must not be worse than the champion's;
- by the ISO 12099 tests of each partition (:mod:`nirs_core.validation`, carried in the
  bundle): a test the champion passes (bias significance, slope against 1; on the test set, SEP
  against SECV) the challenger must pass too.

A refused promotion raises :class:`~nirs_core.errors.PromotionRefusedError` listing every
reason; ``force=True`` with a written reason overrides it, and the history records both.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nirs_core.errors import ConfigError, PromotionRefusedError
from nirs_core.metrics import get_metric, is_better
from nirs_core.names import POOLED_FOLD, REFIT_FOLD
from nirs_core.store.bundle import Bundle, open_bundle
from nirs_core.store.models import (
    HistoryEntry,
    ModelRecord,
    ModelRegistry,
    ModelVersion,
    current_user,
    sha256_of,
)
from nirs_core.validation import regression_statistics

__all__ = [
    "DEFAULT_ALIAS",
    "history_markdown",
    "open_version",
    "policy_reasons",
    "promote",
    "register_bundle",
    "rollback",
    "train_and_register",
    "validation_statistics",
]

DEFAULT_ALIAS = "champion"


# ----------------------------------------------------------------------------- statistics


def _rows_of(rows: Sequence[Mapping[str, Any]], fold: int, partition: str) -> Mapping[str, Any] | None:
    found = [r for r in rows if r["fold"] == fold and r["partition"] == partition]
    return found[0] if found else None


def validation_statistics(rows: Sequence[Mapping[str, Any]], metric: str) -> dict[str, Any]:
    """``{"cv": …, "test": …}`` from a result's prediction rows (the pooled out-of-fold row and
    the refit model's test row), for a bundle that does not carry the executor's statistics:
    regression by :func:`nirs_core.validation.regression_statistics` (the one implementation;
    the test set's SEP tested against the cross-validation's), classification the selection
    metric's ``n`` and score. A partition without rows, or with fewer than 3, is left out."""
    regression = get_metric(metric).task == "regression"
    out: dict[str, Any] = {}
    for name, row in (
        ("cv", _rows_of(rows, POOLED_FOLD, "val")),
        ("test", _rows_of(rows, REFIT_FOLD, "test")),
    ):
        if row is None:
            continue
        if not regression:
            out[name] = {"n": int(row["n_samples"]), metric: row.get("score")}
            continue
        t = np.asarray(row["y_true"], dtype=np.float64).reshape(int(row["n_samples"]), -1)[:, 0]
        p = np.asarray(row["y_pred"], dtype=np.float64).reshape(int(row["n_samples"]), -1)[:, 0]
        if t.size < 3:
            continue
        cv = out.get("cv") if name == "test" else None
        out[name] = regression_statistics(
            t, p, kind=name, secv=None if cv is None else cv["sep"], n_cv=None if cv is None else cv["n"]
        )
    return out


# ----------------------------------------------------------------------------- registering


def _registered_validation(
    info: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]], metric: str | None
) -> dict[str, Any]:
    carried = info.get("validation")
    if isinstance(carried, Mapping) and carried:
        return {k: v for k, v in carried.items() if k in ("calibration", "cv", "test")}
    return validation_statistics(predictions, metric) if predictions and metric else {}


def register_bundle(
    workspace: str | os.PathLike[str],
    name: str,
    bundle: str | os.PathLike[str],
    *,
    predictions: Sequence[Mapping[str, Any]] = (),
    run_id: str | None = None,
    training: Mapping[str, Any] | None = None,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    public_key: Any = None,
    trust_unsigned: bool = False,
) -> ModelVersion:
    """Add the bundle file ``bundle`` as the next version of model ``name`` in the registry of
    ``workspace``. The bytes registered are the bytes verified (:func:`open_bundle`: signature
    and hashes); ``predictions`` (the result's rows) give the validation statistics."""
    data = Path(bundle).read_bytes()
    with tempfile.TemporaryDirectory(prefix="nirs-register-") as scratch:
        copy = Path(scratch) / "bundle.zip"
        copy.write_bytes(data)
        opened = open_bundle(
            copy, key=key, key_file=key_file, public_key=public_key, trust_unsigned=trust_unsigned
        )
    info, sheet = opened.info, opened.datasheet() or {}
    metric = info.get("metric")
    identity = sheet.get("dataset") or {}
    fields = {
        "created_at": info.get("created_at"),
        "metric": metric,
        "scores": {"cv": info.get("cv_score"), "test": info.get("test_score")},
        # the executor's statistics travel in the bundle; older bundles get them from the rows
        "validation": _registered_validation(info, predictions, metric),
        "dataset": {
            "name": info.get("dataset"),
            "sha256": identity.get("sha256"),
            "content_hash": identity.get("content_hash"),
            "n_samples": identity.get("n_samples"),
        },
        "config": {
            "config_id": info.get("config_id"),
            "config_name": info.get("config_name"),
            "template_id": info.get("template_id"),
            "structure_hash": info.get("structure_hash"),
        },
        "run_id": run_id,
        "training": dict(training or {}),
    }
    return ModelRegistry(workspace).add_version(name, data, fields)


def train_and_register(
    template: str | os.PathLike[str],
    data: str | os.PathLike[str],
    name: str,
    *,
    workspace: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    sign: bool = True,
    fits: str | Sequence[str] = "refit",
    progress: bool = False,
) -> dict[str, Any]:
    """:func:`nirs_core.app.train.train_bundle` in ``workspace``, then :func:`register_bundle`
    of its bundle as a new version of ``name`` (the bundle is also kept at ``output`` when
    given). Returns train_bundle's dict with ``version`` (the :class:`ModelVersion`)."""
    from nirs_core.app.train import train_bundle

    with tempfile.TemporaryDirectory(prefix="nirs-train-") as scratch:
        target = Path(output) if output is not None else Path(scratch) / f"{name}.zip"
        out = train_bundle(
            template,
            data,
            target,
            workspace=workspace,
            key=key,
            key_file=key_file,
            sign=sign,
            fits=fits,
            progress=progress,
        )
        out["version"] = register_bundle(
            workspace,
            name,
            target,
            predictions=out["predictions"],
            run_id=out["run_id"],
            training={"template": str(Path(template).resolve()), "data": str(Path(data).resolve())},
            key=key,
            key_file=key_file,
            trust_unsigned=not sign,
        )
        if output is None:
            out["bundle"] = None
    return out


# ----------------------------------------------------------------------------- aliases


def policy_reasons(champion: ModelVersion, challenger: ModelVersion) -> list[str]:
    """Why ``challenger`` is worse than ``champion`` (empty when it is not): see the module
    docstring."""
    if champion.metric != challenger.metric:
        return [
            f"the selection metrics differ (champion {champion.metric!r}, challenger "
            f"{challenger.metric!r}): the scores cannot be compared"
        ]
    reasons = []
    metric = champion.metric
    for part in ("cv", "test"):
        theirs, ours = champion.scores.get(part), challenger.scores.get(part)
        if theirs is None:
            continue
        if ours is None:
            reasons.append(f"{part} {metric}: the champion has {theirs:.6g}, the challenger none")
        elif is_better(metric, theirs, ours):
            reasons.append(f"{part} {metric} {ours:.6g} is worse than the champion's {theirs:.6g}")
    for part, statistics in champion.validation.items():
        mine = (challenger.validation.get(part) or {}).get("tests") or {}
        for test, verdict in (statistics.get("tests") or {}).items():
            if not _passes(verdict):
                continue
            ours = mine.get(test)
            if ours is None or not _passes(ours):
                got = (
                    "not computed" if ours is None else f"{ours['statistic']:.4g} > limit {ours['limit']:.4g}"
                )
                reasons.append(
                    f"ISO 12099 {test} test on {part}: the champion passes, the challenger fails ({got})"
                )
    return reasons


def _passes(test: Mapping[str, Any]) -> bool:
    return test.get("verdict") == "pass"


def promote(
    workspace: str | os.PathLike[str],
    name: str,
    version: int,
    *,
    alias: str = DEFAULT_ALIAS,
    force: bool = False,
    reason: str = "",
    by: str | None = None,
) -> HistoryEntry:
    """Point ``alias`` of model ``name`` at ``version``, under the promotion policy (checked
    and applied under the model's lock, so two promotions cannot interleave)."""
    if force and not reason.strip():
        raise ConfigError(
            f"promote {name} v{version}: --force needs a reason (--reason TEXT) for the history."
        )
    with ModelRegistry(workspace).transaction(name) as record:
        challenger = record.version(int(version))
        champion = record.holder(alias)
        if champion is not None and champion.version == challenger.version:
            raise ConfigError(f"promote {name} v{version}: {alias!r} already points at version {version}.")
        reasons = [] if champion is None else policy_reasons(champion, challenger)
        if reasons and not force:
            raise PromotionRefusedError(
                f"promote {name} v{challenger.version} to {alias!r}: refused by the promotion policy against "
                f"the current holder v{champion.version}: " + "; ".join(reasons) + ". Pass --force with "
                "--reason to promote anyway."
            )
        note = reason.strip() or ("no champion yet" if champion is None else "not worse than the champion")
        if reasons:
            note = f"{note} (forced over: {'; '.join(reasons)})"
        return _record(record, "promote", alias, champion, challenger.version, note, bool(reasons), by)


def rollback(
    workspace: str | os.PathLike[str],
    name: str,
    *,
    alias: str = DEFAULT_ALIAS,
    reason: str = "",
    by: str | None = None,
) -> HistoryEntry:
    """Point ``alias`` back at its previous holder (the history's promotions and rollbacks,
    replayed as a stack by :meth:`ModelRecord.holders`). Not subject to the policy."""
    with ModelRegistry(workspace).transaction(name) as record:
        stack = record.holders(alias)
        if len(stack) < 2:
            held = f"only version {stack[0]}" if stack else "no version"
            raise ConfigError(
                f"rollback {name} {alias!r}: no previous holder to go back to ({alias!r} has held {held})."
            )
        current = record.holder(alias)
        return _record(record, "rollback", alias, current, stack[-2], reason.strip() or "rollback", False, by)


def _record(
    record: ModelRecord,
    action: str,
    alias: str,
    previous: ModelVersion | None,
    to_version: int,
    reason: str,
    forced: bool,
    by: str | None,
) -> HistoryEntry:
    from datetime import UTC, datetime

    entry = HistoryEntry(
        at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        by=by or current_user(),
        action=action,
        alias=alias,
        from_version=None if previous is None else previous.version,
        to_version=to_version,
        reason=reason,
        forced=forced,
    )
    record.aliases[alias] = to_version
    record.history.append(entry)
    return entry


def open_version(
    workspace: str | os.PathLike[str],
    name: str,
    *,
    alias: str | None = DEFAULT_ALIAS,
    version: int | None = None,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    public_key: Any = None,
    trust_unsigned: bool = False,
    allow_pickle: bool = False,
) -> tuple[ModelVersion, Bundle]:
    """The version ``alias`` points to (or ``version``) and its bundle, opened after its file
    was checked against the registered sha256 and verified (:func:`open_bundle`, with the same
    key, trust and pickle options)."""
    registry = ModelRegistry(workspace)
    record = registry.read(name)
    if version is not None:
        chosen = record.version(int(version))
    else:
        chosen = record.holder(alias or DEFAULT_ALIAS)
        if chosen is None:
            raise ConfigError(
                f"model {name!r} in {registry.models_dir}: alias {alias!r} points at no version; promote one "
                f"(nirs models promote WS {name} VERSION --alias {alias})."
            )
    path = registry.bundle_path(chosen)
    data = path.read_bytes()
    if sha256_of(data) != chosen.sha256:
        from nirs_core.errors import BundleIntegrityError

        raise BundleIntegrityError(
            f"{path}: model {name!r} version {chosen.version} hashes to {sha256_of(data)}; the registry "
            f"recorded {chosen.sha256} (the file was replaced or corrupted)."
        )
    bundle = open_bundle(
        path,
        key=key,
        key_file=key_file,
        public_key=public_key,
        trust_unsigned=trust_unsigned,
        allow_pickle=allow_pickle,
    )
    return chosen, bundle


def history_markdown(record: ModelRecord) -> str:
    """The versions and the alias history of a model as Markdown tables (for the Dagster UI)."""
    lines = [
        "| version | aliases | created_at | metric | cv | test | sha256 |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in record.versions:
        cv, test = v.scores.get("cv"), v.scores.get("test")
        lines.append(
            f"| {v.version} | {', '.join(record.aliases_of(v.version)) or '—'} | {v.created_at} | {v.metric} "
            f"| {'—' if cv is None else f'{cv:.6g}'} | {'—' if test is None else f'{test:.6g}'} | {v.sha256[:12]} |"
        )
    lines += ["", "| when | by | action | alias | from | to | why |", "|---|---|---|---|---|---|---|"]
    for h in record.history:
        why = h.reason.replace("|", "/") + (" (forced)" if h.forced else "")
        lines.append(
            f"| {h.at} | {h.by} | {h.action} | {h.alias} | {'—' if h.from_version is None else h.from_version} "
            f"| {h.to_version} | {why} |"
        )
    return "\n".join(lines)
