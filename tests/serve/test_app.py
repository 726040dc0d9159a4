"""The service's routes in process (starlette's TestClient): the admin switch, the routes that
need a registry, a training job that fails, and the holder's reload rules."""

from __future__ import annotations

import shutil
import time
import warnings

import numpy as np
import pytest

with warnings.catch_warnings():  # starlette's TestClient announces a successor of httpx on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
from registry_fixtures import KEY

from nirs_core.app.models import promote, register_bundle
from nirs_core.errors import ConfigError
from nirs_core.serve._holder import ModelHolder
from nirs_core.serve._usage import LATENCY_BUCKETS, Metrics, UsageLog
from nirs_core.serve.app import create_app
from nirs_core.store.models import ModelRegistry

TOKEN = "in-process-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def bare_registry(corn_registry, tmp_path):
    """A registry whose only version records no training recipe."""
    workspace = tmp_path / "ws"
    source = corn_registry["workspace"]
    bundle = source / ModelRegistry(source).read("corn").version(1).path
    register_bundle(workspace, "corn", bundle, key=KEY)
    promote(workspace, "corn", 1)
    return workspace, bundle


def test_admin_routes_are_off_without_a_token(bare_registry, monkeypatch):
    monkeypatch.setenv("NIRS_BUNDLE_KEY", KEY)
    monkeypatch.delenv("NIRS_ADMIN_TOKEN", raising=False)
    workspace, _ = bare_registry
    holder = ModelHolder(workspace=workspace, model="corn")
    holder.load()
    with TestClient(create_app(holder)) as client:
        off = client.post("/models/corn/promote", json={"version": 1}, headers=AUTH)
        assert off.status_code == 403 and "admin routes are disabled" in off.json()["detail"]


def test_routes_that_need_a_registry_or_a_recipe(bare_registry, monkeypatch):
    monkeypatch.setenv("NIRS_BUNDLE_KEY", KEY)
    workspace, bundle = bare_registry
    by_file = ModelHolder(model_path=bundle)
    by_file.load()
    with TestClient(create_app(by_file, admin_token=TOKEN)) as client:
        for route in ("/models/corn/promote", "/models/corn/rollback", "/jobs/train"):
            response = client.post(route, json={"version": 1}, headers=AUTH)
            assert response.status_code == 409 and "serves the file $MODEL_PATH" in response.json()["detail"]
    registered = ModelHolder(workspace=workspace, model="corn")
    registered.load()
    with TestClient(create_app(registered, admin_token=TOKEN)) as client:
        none = client.post("/jobs/train", headers=AUTH)
        assert (
            none.status_code == 409 and "records no template and data to retrain on" in none.json()["detail"]
        )
        # a recipe that cannot train: the job fails and says why, the server lives on
        job = client.post(
            "/jobs/train", json={"template": str(bundle), "data": str(bundle)}, headers=AUTH
        ).json()
        deadline = time.monotonic() + 120
        while (status := client.get(job["url"], headers=AUTH).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert status["status"] == "failed" and status["error"]
        assert client.get("/health").json()["status"] == "ok"
        again = client.post("/models/corn/rollback", headers=AUTH)
        assert again.status_code == 409 and "no previous holder" in again.json()["detail"]


def test_holder_needs_one_source():
    with pytest.raises(ConfigError, match=r"expected --workspace WS --model NAME .* or \$MODEL_PATH"):
        ModelHolder(workspace="ws")
    with pytest.raises(ConfigError, match=r"got both \$MODEL_PATH \(m.zip\) and --model corn"):
        ModelHolder(model="corn", model_path="m.zip")


def test_holder_reloads_only_when_the_alias_moves(corn_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("NIRS_BUNDLE_KEY", KEY)
    workspace = tmp_path / "ws"
    shutil.copytree(corn_registry["workspace"] / "models", workspace / "models")
    holder = ModelHolder(workspace=workspace, model="corn", check_interval=0.0)
    first = holder.load()
    assert holder.refresh(force=True) is False and holder.current() is first  # same version: kept
    promote(workspace, "corn", 2, force=True, reason="test")
    with holder._lock:  # as while another thread loads a version: requests go on with this one
        assert holder.current() is first
    assert holder.current().version == 2 and holder.reloads == 1


def test_metrics_histogram_counts_cumulatively():
    metrics = Metrics()
    for seconds in (0.0005, 0.003, 0.003, 10.0):
        metrics.observe("POST", "/predict", 200, seconds, spectra=2)
    text = metrics.render({})
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert lines[f'nirs_request_seconds_bucket{{route="/predict",le="{LATENCY_BUCKETS[0]}"}}'] == "1"
    assert lines['nirs_request_seconds_bucket{route="/predict",le="0.005"}'] == "3"
    assert lines['nirs_request_seconds_bucket{route="/predict",le="+Inf"}'] == "4"
    assert lines["nirs_predicted_spectra_total"] == "8"


def test_holder_follows_a_replaced_model_file(corn_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("NIRS_BUNDLE_KEY", KEY)
    source = ModelRegistry(corn_registry["workspace"])
    record = source.read("corn")
    path = tmp_path / "model.zip"
    path.write_bytes(source.bundle_path(record.version(1)).read_bytes())
    holder = ModelHolder(model_path=path, check_interval=0.0)
    assert holder.load().sha256 == record.version(1).sha256
    replacement = tmp_path / "new.zip"
    replacement.write_bytes(source.bundle_path(record.version(2)).read_bytes())
    replacement.replace(path)
    assert holder.current().sha256 == record.version(2).sha256 and holder.reloads == 1
    path.unlink()  # a vanished file: the loaded model keeps serving, /health says why
    assert holder.current().sha256 == record.version(2).sha256
    assert holder.last_error.startswith("FileNotFoundError")


def test_usage_log_rotates(tmp_path):
    log = UsageLog(tmp_path / "usage.jsonl", max_bytes=400, backups=2)
    for i in range(60):
        log.write(route="/predict", status=200, n_spectra=i)
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["usage.jsonl", "usage.jsonl.1", "usage.jsonl.2"]
    import json

    kept = [json.loads(line) for n in reversed(names) for line in (tmp_path / n).read_text().splitlines()]
    assert [x["n_spectra"] for x in kept] == list(range(60 - len(kept), 60))  # the newest, in order
    assert all(p.stat().st_size <= 400 for p in tmp_path.iterdir())


def test_serve_without_the_extra_says_what_to_install(monkeypatch):
    import sys

    from nirs_core.serve import serve

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(
        ConfigError, match=r"the service needs the `serve` extra \(pip install 'nirs-dagster\[serve\]'\)"
    ):
        serve(workspace="ws", model="corn")


def test_a_nan_statistic_is_served_as_null(bare_registry, monkeypatch):
    monkeypatch.setenv("NIRS_BUNDLE_KEY", KEY)
    workspace, _ = bare_registry
    with ModelRegistry(workspace).transaction("corn") as record:
        record.versions[0].validation = {"test": {"n": 3, "r2": float("nan")}}
    holder = ModelHolder(workspace=workspace, model="corn")
    holder.load()
    with TestClient(create_app(holder)) as client:
        assert client.get("/models/current").json()["validation"] == {"test": {"n": 3, "r2": None}}
        assert client.get("/models").json()[0]["validation"]["test"]["r2"] is None


RIDGE = """\
name: corn_ridge
pipeline:
  - split: {class: sklearn.model_selection.KFold, params: {n_splits: 3, shuffle: true, random_state: 0}}
  - SNV
  - model: {class: sklearn.linear_model.Ridge, params: {alpha: 1.0}}
"""


def test_a_pickled_estimator_is_served_only_with_allow_pickle(
    corn_registry, tmp_path, monkeypatch, corn_arrays
):
    from nirs_core.app.models import train_and_register
    from nirs_core.errors import BundleIntegrityError

    monkeypatch.setenv("NIRS_BUNDLE_KEY", KEY)
    (tmp_path / "ridge.yaml").write_text(RIDGE)
    workspace = tmp_path / "ws"
    out = train_and_register(
        tmp_path / "ridge.yaml", corn_registry["corn"], "ridge", workspace=workspace, key=KEY
    )
    promote(workspace, "ridge", out["version"].version)
    with pytest.raises(BundleIntegrityError, match=r"is a pickled third-party estimator .*--allow-pickle"):
        ModelHolder(workspace=workspace, model="ridge").load()  # refused at the warm-up, before it listens
    holder = ModelHolder(workspace=workspace, model="ridge", allow_pickle=True)
    holder.load()
    from sklearn.linear_model import Ridge

    from nirs_core.operators import SNV

    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    expected = (
        Ridge(alpha=1.0).fit(SNV().fit_transform(X), y).predict(SNV().fit_transform(corn_arrays["Xval"]))
    )
    with TestClient(create_app(holder)) as client:
        got = client.post("/predict", json={"spectra": corn_arrays["Xval"].tolist()}).json()["predictions"]
    np.testing.assert_allclose([p["value"] for p in got], expected, rtol=1e-9)
