"""Model registry use cases (nirs_core.app.models) and their CLI on ../shared/data/corn:
validation statistics against scipy, the promotion policy (a worse challenger is refused, a
forced promotion needs a reason), rollback to the previous holder, verified loading, and
`nirs train --register` from concurrent processes without a lost version."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from registry_fixtures import KEY, write_templates
from scipy import stats

from nirs_core.app import models
from nirs_core.errors import BundleIntegrityError, ConfigError, PromotionRefusedError
from nirs_core.names import POOLED_FOLD, REFIT_FOLD
from nirs_core.store.bundle import KEY_ENV, KEY_FILE_ENV
from nirs_core.store.models import ModelRegistry, ModelVersion


def _row(rows, fold, partition):
    (row,) = [r for r in rows if r["fold"] == fold and r["partition"] == partition]
    return np.asarray(row["y_true"], float).ravel(), np.asarray(row["y_pred"], float).ravel()


def test_validation_statistics_match_scipy(corn_registry):
    """Bias, SEP and the ISO 12099 tests against a loop and scipy's one-sample t-test and F
    distribution, on both versions' real cross-validation and test predictions."""
    for trained in (corn_registry["good"], corn_registry["worse"]):
        rows, version = trained["predictions"], trained["version"]
        cv_t, cv_p = _row(rows, POOLED_FOLD, "val")
        test_t, test_p = _row(rows, REFIT_FOLD, "test")
        for part, (t, p) in {"cv": (cv_t, cv_p), "test": (test_t, test_p)}.items():
            got = version.validation[part]
            e = [pi - ti for ti, pi in zip(t.tolist(), p.tolist())]
            n = len(e)
            bias = sum(e) / n
            sep = (sum((x - bias) ** 2 for x in e) / (n - 1)) ** 0.5
            assert got["n"] == n
            assert got["bias"] == pytest.approx(bias, rel=1e-12, abs=1e-15)
            assert got["sep"] == pytest.approx(sep, rel=1e-12)
            pvalue = stats.ttest_1samp(e, 0.0).pvalue
            assert got["tests"]["bias"]["verdict"] == ("pass" if pvalue >= 0.05 else "fail")
        cv_sep = version.validation["cv"]["sep"]
        ratio = version.validation["test"]["sep"] ** 2 / cv_sep**2
        f_pvalue = stats.f.sf(ratio, test_t.size - 1, cv_t.size - 1)
        assert version.validation["test"]["tests"]["sep"]["verdict"] == (
            "pass" if f_pvalue >= 0.05 else "fail"
        )
    # the fixture's premise: version 2 is the worse model by RMSECV and RMSEP
    good, worse = corn_registry["good"]["version"], corn_registry["worse"]["version"]
    assert worse.scores["cv"] > good.scores["cv"] and worse.scores["test"] > good.scores["test"]
    assert good.dataset["sha256"] and good.dataset["sha256"] == worse.dataset["sha256"]
    assert good.run_id and good.training["template"].endswith("good.yaml")


def test_policy_refuses_a_worse_challenger_and_force_needs_a_reason(corn_registry, tmp_path):
    import shutil

    workspace = tmp_path / "ws"
    shutil.copytree(corn_registry["workspace"] / "models", workspace / "models")
    with pytest.raises(
        PromotionRefusedError, match=r"promote corn v2 to 'champion': refused .* v1: cv rmse .* is worse"
    ):
        models.promote(workspace, "corn", 2)
    with pytest.raises(ConfigError, match=r"--force needs a reason"):
        models.promote(workspace, "corn", 2, force=True)
    entry = models.promote(workspace, "corn", 2, force=True, reason="lab asked for it", by="tester")
    assert (entry.from_version, entry.to_version, entry.forced, entry.by) == (1, 2, True, "tester")
    assert entry.reason.startswith("lab asked for it (forced over: cv rmse")
    with pytest.raises(ConfigError, match=r"'champion' already points at version 2"):
        models.promote(workspace, "corn", 2)
    back = models.rollback(workspace, "corn", reason="worse in routine")
    assert (back.action, back.from_version, back.to_version) == ("rollback", 2, 1)
    with pytest.raises(
        ConfigError, match=r"no previous holder to go back to \('champion' has held only version 1\)"
    ):
        models.rollback(workspace, "corn")
    with pytest.raises(ConfigError, match=r"'staging' has held no version"):
        models.rollback(workspace, "corn", alias="staging")
    models.promote(workspace, "corn", 1, alias="staging")  # a free alias takes any version
    record = ModelRegistry(workspace).read("corn")
    assert record.aliases == {"champion": 1, "staging": 1}
    assert [(h.action, h.alias, h.from_version, h.to_version) for h in record.history] == [
        ("promote", "champion", None, 1),
        ("promote", "champion", 1, 2),
        ("rollback", "champion", 2, 1),
        ("promote", "staging", None, 1),
    ]
    markdown = models.history_markdown(record)
    assert "| 1 | champion, staging |" in markdown and "lab asked for it" in markdown


def _version(**kw) -> ModelVersion:
    base = {"name": "m", "version": 1, "path": "p", "sha256": "0" * 64, "created_at": "t", "metric": "rmse"}
    return ModelVersion(**{**base, **kw})


def test_policy_reasons_cover_metrics_and_iso_tests():
    champion = _version(
        scores={"cv": 0.1, "test": 0.1}, validation={"test": {"tests": {"bias": {"verdict": "pass"}}}}
    )
    failing = {"test": {"tests": {"bias": {"statistic": 0.3, "limit": 0.1, "verdict": "fail"}}}}
    challenger = _version(version=2, scores={"cv": 0.09, "test": 0.09}, validation=failing)
    assert models.policy_reasons(champion, challenger) == [
        "ISO 12099 bias test on test: the champion passes, the challenger fails (0.3 > limit 0.1)"
    ]
    no_test = _version(version=3, scores={"cv": 0.09, "test": None})
    assert models.policy_reasons(champion, no_test) == [
        "test rmse: the champion has 0.1, the challenger none",
        "ISO 12099 bias test on test: the champion passes, the challenger fails (not computed)",
    ]
    other = _version(version=4, metric="accuracy", scores={"cv": 1.0})
    assert "the selection metrics differ" in models.policy_reasons(champion, other)[0]
    better = _version(version=5, scores={"cv": 0.05, "test": 0.05}, validation=champion.validation)
    assert models.policy_reasons(champion, better) == []


def test_open_version_checks_the_registered_sha256(corn_registry, tmp_path):
    import shutil

    workspace = tmp_path / "ws"
    shutil.copytree(corn_registry["workspace"] / "models", workspace / "models")
    entry, bundle = models.open_version(workspace, "corn", key=KEY)
    assert entry.version == 1 and bundle.signature == "valid"
    with pytest.raises(ConfigError, match=r"alias 'staging' points at no version"):
        models.open_version(workspace, "corn", alias="staging", key=KEY)
    path = ModelRegistry(workspace).bundle_path(entry)
    data = bytearray(path.read_bytes())
    data[-10] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=r"version 1 hashes to .*the registry recorded"):
        models.open_version(workspace, "corn", key=KEY)


# ----------------------------------------------------------------------------- CLI


def _nirs(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, KEY_FILE_ENV)}
    env[KEY_ENV] = KEY
    return subprocess.Popen(
        [sys.executable, "-m", "nirs_core.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def _done(proc) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_concurrent_train_register_loses_no_version(corn_registry, tmp_path):
    """Three `nirs train --register` processes at once on one workspace: versions 1, 2, 3, each
    bundle intact; then list, promote, rollback and history through the CLI."""
    templates = write_templates(tmp_path)
    ws = tmp_path / "ws"
    procs = [
        _nirs(
            "train",
            templates[t],
            "--data",
            corn_registry["corn"],
            "--register",
            "corn",
            "--workspace",
            ws,
            "--no-progress",
        )
        for t in ("good", "worse", "good")
    ]
    results = [_done(p) for p in procs]
    for r in results:
        assert r.returncode == 0, r.stderr
        assert "registered corn version" in r.stdout
    registry = ModelRegistry(ws)
    record = registry.read("corn")
    assert sorted(v.version for v in record.versions) == [1, 2, 3]
    assert registry.check("corn") == []
    assert len({v.run_id for v in record.versions}) == 3

    listing = _done(_nirs("models", "list", ws, "--json"))
    rows = json.loads(listing.stdout)
    assert [set(r) for r in rows] == [
        {"name", "version", "aliases", "path", "sha256", "created_at", "scores"}
    ] * 3
    best = min(rows, key=lambda r: r["scores"]["cv"])
    worst = max(rows, key=lambda r: r["scores"]["cv"])
    assert _done(_nirs("models", "promote", ws, "corn", best["version"])).returncode == 0
    refused = _done(_nirs("models", "promote", ws, "corn", worst["version"]))
    assert refused.returncode == 2 and "refused by the promotion policy" in refused.stderr
    forced = _done(_nirs("models", "promote", ws, "corn", worst["version"], "--force", "--reason", "trial"))
    assert forced.returncode == 0, forced.stderr
    assert _done(_nirs("models", "rollback", ws, "corn")).returncode == 0
    history = json.loads(_done(_nirs("models", "history", ws, "corn", "--json")).stdout)
    assert [(h["action"], h["to_version"], h["forced"]) for h in history] == [
        ("promote", best["version"], False),
        ("promote", worst["version"], True),
        ("rollback", best["version"], False),
    ]
    text = _done(_nirs("models", "history", ws, "corn")).stdout
    assert f"promote champion: v{best['version']} -> v{worst['version']} (forced)  trial" in text
    assert "champion" in _done(_nirs("models", "list", ws)).stdout


def test_cli_errors(tmp_path):
    neither = _done(_nirs("train", "t.yaml", "--data", "d"))
    assert (
        neither.returncode == 2
        and "expected -o BUNDLE, --register NAME or both; got neither" in neither.stderr
    )
    missing = _done(_nirs("models", "history", tmp_path, "corn"))
    assert missing.returncode == 2 and "no model named 'corn'; registered: none" in missing.stderr
    assert "no models registered" in _done(_nirs("models", "list", tmp_path)).stdout


def test_train_register_promote(corn_registry, tmp_path):
    """`--promote` promotes the first version; a worse one is registered but refused."""
    templates = write_templates(tmp_path)
    ws, corn = tmp_path / "ws", corn_registry["corn"]
    args = ("--data", corn, "--register", "corn", "--promote", "--workspace", ws, "--no-progress")
    first = _done(_nirs("train", templates["good"], *args))
    assert first.returncode == 0 and "corn champion: nothing -> v1 (nirs train --promote)" in first.stdout
    second = _done(_nirs("train", templates["worse"], *args))
    assert second.returncode == 2 and "registered corn version 2" in second.stdout
    assert "promote corn v2 to 'champion': refused by the promotion policy" in second.stderr
    assert ModelRegistry(ws).read("corn").aliases == {"champion": 1}
    alone = _done(_nirs("train", templates["good"], "--data", corn, "-o", tmp_path / "m.zip", "--promote"))
    assert (
        alone.returncode == 2
        and "--promote promotes the registered version; add --register NAME" in alone.stderr
    )


def test_validation_statistics_of_a_classifier_and_of_a_partition_without_rows():
    rows = [
        {"fold": POOLED_FOLD, "partition": "val", "n_samples": 12, "score": 0.75},
        {"fold": REFIT_FOLD, "partition": "train", "n_samples": 12, "score": 1.0},
    ]
    assert models.validation_statistics(rows, "accuracy") == {"cv": {"n": 12, "accuracy": 0.75}}
    one = [{"fold": REFIT_FOLD, "partition": "test", "n_samples": 1, "y_true": [1.0], "y_pred": [1.5]}]
    assert models.validation_statistics(one, "rmse") == {}  # under 3 rows: no statistics
