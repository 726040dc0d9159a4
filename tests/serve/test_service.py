"""`nirs serve` as a real server on a free loopback port, spoken to over HTTP (httpx).

Done-when of issue 14: predictions equal `nirs predict` on the same bundle; a promotion or a
rollback (over HTTP or by the CLI in another process) changes /models/current without a
restart; admin routes refuse a missing or wrong token (and are off without one); bad input gets
a 4xx and the next request succeeds; 8 concurrent clients all succeed.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from registry_fixtures import KEY

from nirs_core.store.bundle import KEY_ENV, KEY_FILE_ENV
from nirs_core.store.models import ModelRegistry

TOKEN = "admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (KEY_ENV, KEY_FILE_ENV, "MODEL_PATH", "NIRS_ADMIN_TOKEN")
    }
    env[KEY_ENV] = KEY
    env.update(extra)
    return env


class Server:
    """`nirs serve …` in a subprocess, up once /health answers."""

    def __init__(self, *args: str, env: dict) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nirs_core.cli", "serve", *args, "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.client = httpx.Client(base_url=self.url, timeout=60)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"nirs serve exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("nirs serve did not answer /health within 120 s")
            time.sleep(0.2)

    def stop(self) -> str:
        self.client.close()
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


@pytest.fixture(scope="module")
def served(corn_registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    workspace = root / "ws"
    shutil.copytree(corn_registry["workspace"] / "models", workspace / "models")
    server = Server(
        "--workspace",
        str(workspace),
        "--model",
        "corn",
        "--host",
        "127.0.0.1",
        "--max-spectra",
        "50",
        "--max-body-bytes",
        "2000000",
        env=_env(NIRS_ADMIN_TOKEN=TOKEN),
    )
    yield {
        "server": server,
        "client": server.client,
        "workspace": workspace,
        "corn": corn_registry["corn"],
        "root": root,
    }
    server.stop()


def _nirs(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nirs_core.cli", *map(str, args)], capture_output=True, text=True, env=_env()
    )


def _nirs_predict_table(bundle: Path, data: Path, out: Path) -> dict[str, list]:
    """The columns `nirs predict` writes, under the names of the service's fields."""
    done = _nirs("predict", bundle, data, "-o", out)
    assert done.returncode == 0, done.stderr
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    names = {"value": "oil", "lower": "oil_lower", "upper": "oil_upper", "t2": "t2", "q": "q"}
    table = {field: [float(r[column]) for r in rows] for field, column in names.items()}
    table["in_domain"] = [{"True": True, "False": False}[r["in_domain"]] for r in rows]
    return table


def _nirs_predict(bundle: Path, data: Path, out: Path) -> np.ndarray:
    return np.array(_nirs_predict_table(bundle, data, out)["value"])


def _values(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.array([p["value"] for p in response.json()["predictions"]])


def _wait_for_version(client: httpx.Client, version: int, seconds: float = 10.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if client.get("/models/current").json()["version"] == version:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"/models/current did not become version {version} within {seconds} s")


def test_predictions_equal_nirs_predict(served, corn_arrays, tmp_path):
    client, workspace, corn = served["client"], served["workspace"], served["corn"]
    current = client.get("/models/current").json()
    assert {"name", "version", "sha256", "created_at", "config", "validation"} <= set(current)
    assert (current["name"], current["version"]) == ("corn", 1)
    assert current["validation"]["test"]["tests"]["bias"]["verdict"] in ("pass", "fail")
    bundle = workspace / ModelRegistry(workspace).read("corn").version(1).path
    table = _nirs_predict_table(bundle, corn / "Xval.csv", tmp_path / "p.csv")
    expected = np.array(table["value"])
    X, wavelengths = corn_arrays["Xval"], corn_arrays["wavelengths"]
    by_json = client.post("/predict", json={"spectra": X.tolist()})
    assert np.array_equal(_values(by_json), expected)
    body = by_json.json()
    assert body["model"] == {"name": "corn", "version": 1, "sha256": current["sha256"]}
    # every field equals `nirs predict`'s column; the interval brackets the value
    for field in ("lower", "upper", "t2", "q", "in_domain"):
        assert [p[field] for p in body["predictions"]] == table[field], field
    assert all(p["lower"] < p["value"] < p["upper"] for p in body["predictions"])
    assert sum(table["in_domain"]) >= 15  # instrument 1's own validation spectra: mostly in the domain
    with_axis = client.post("/predict", json={"spectra": X.tolist(), "wavelengths": wavelengths.tolist()})
    assert np.array_equal(_values(with_axis), expected)
    by_csv = client.post(
        "/predict", content=(corn / "Xval.csv").read_bytes(), headers={"content-type": "text/csv"}
    )
    assert np.array_equal(_values(by_csv), expected)


def _csv(X: np.ndarray, wavelengths: np.ndarray) -> bytes:
    lines = [";".join(repr(float(w)) for w in wavelengths)] + [
        ";".join(repr(float(v)) for v in row) for row in X
    ]
    return ("\n".join(lines) + "\n").encode()


def _bad_requests(X: np.ndarray, wavelengths: np.ndarray) -> list[tuple[dict, int, str]]:
    nan_body = json.dumps({"spectra": [X[0].tolist()]}).replace(str(X[0][3]), "NaN", 1)
    return [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        ({"json": {"spectrum": X[0].tolist()}}, 422, r'expected {"spectra"'),
        ({"json": {"spectra": [X[0, :10].tolist()]}}, 422, "expected 700 columns"),
        ({"json": {"spectra": [X[0].tolist(), X[1, :5].tolist()]}}, 422, "spectra\\[1\\] has 5"),
        ({"json": {"spectra": [X[0].tolist(), 3]}}, 422, r"spectra\[1\] is a int"),
        ({"json": {"spectra": [["a"] * 700]}}, 422, "numbers only"),
        (
            {"content": nan_body.encode(), "headers": {"content-type": "application/json"}},
            422,
            "holds nan at column 4",
        ),
        ({"json": {"spectra": [[None, *X[0, 1:].tolist()]]}}, 422, r"spectra\[0\]\[0\] is null"),
        (
            {"json": {"spectra": [X[0].tolist()], "wavelengths": (wavelengths + 1).tolist()}},
            422,
            "differs from the training axis",
        ),
        (
            {"json": {"spectra": [X[0].tolist()], "wavelengths": wavelengths[:5].tolist()}},
            422,
            "5 wavelengths for",
        ),
        (
            {"json": {"spectra": [X[0].tolist()], "wavelengths": ["x"]}},
            422,
            "wavelengths must be a list of numbers",
        ),
        (
            {"json": {"spectra": np.repeat(X[:1], 51, axis=0).tolist()}},
            413,
            "51 spectra in one request; the limit is 50",
        ),
        ({"content": b"0" * 2_000_001, "headers": {"content-type": "text/csv"}}, 413, "the limit is 2000000"),
        (
            {"content": b"x", "headers": {"content-type": "image/png"}},
            415,
            "expected application/json or text/csv",
        ),
        (
            {
                "content": _csv(np.repeat(X[:1], 51, axis=0), wavelengths),
                "headers": {"content-type": "text/csv"},
            },
            413,
            "51 spectra in one request",
        ),
        (
            {"content": iter([b"0" * 1_000_000] * 3), "headers": {"content-type": "text/csv"}},
            413,
            "exceeds the limit of 2000000 bytes",
        ),
    ]


def test_bad_input_gets_a_4xx_and_the_server_lives_on(served, corn_arrays):
    import re

    client = served["client"]
    X, wavelengths = corn_arrays["Xval"], corn_arrays["wavelengths"]
    for kwargs, status, message in _bad_requests(X, wavelengths):
        response = client.post("/predict", **kwargs)
        assert response.status_code == status, (kwargs.get("json") is not None, response.text)
        assert re.search(message, response.json()["detail"]), response.text
        assert client.post("/predict", json={"spectra": X[:1].tolist()}).status_code == 200


def test_eight_concurrent_clients_all_succeed(served, corn_arrays):
    X = corn_arrays["Xval"]
    single = [_values(served["client"].post("/predict", json={"spectra": [row.tolist()]}))[0] for row in X]
    failures: list[str] = []

    def client_loop(k: int) -> None:
        with httpx.Client(base_url=served["server"].url, timeout=60) as client:
            for i in range(20):
                row = (k * 20 + i) % len(X)
                response = client.post("/predict", json={"spectra": [X[row].tolist()]})
                if response.status_code != 200 or response.json()["predictions"][0]["value"] != single[row]:
                    failures.append(f"client {k} request {i}: {response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    metrics = served["client"].get("/metrics").text
    ok = [
        line
        for line in metrics.splitlines()
        if line.startswith('nirs_requests_total{method="POST",route="/predict",status="200"}')
    ]
    assert ok and int(ok[0].split()[-1]) >= 160 + len(X)
    assert "nirs_request_seconds_bucket" in metrics and 'nirs_model_version{name="corn"' in metrics


def test_admin_routes_refuse_a_missing_or_wrong_token(served):
    client = served["client"]
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}):
        for route in ("/models/corn/promote", "/models/corn/rollback", "/jobs/train"):
            response = client.post(route, json={"version": 2}, headers=headers)
            assert response.status_code == 401, (route, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/models/current").json()["version"] == 1


def test_promote_and_rollback_are_served_without_restart(served):
    client, workspace = served["client"], served["workspace"]
    pid = served["server"].proc.pid
    refused = client.post("/models/corn/promote", json={"version": 2}, headers=AUTH)
    assert refused.status_code == 409 and "refused by the promotion policy" in refused.json()["detail"]
    forced = client.post(
        "/models/corn/promote", json={"version": 2, "force": True, "reason": "trial"}, headers=AUTH
    )
    assert forced.status_code == 200, forced.text
    assert forced.json()["current"]["version"] == 2 and client.get("/models/current").json()["version"] == 2
    back = client.post("/models/corn/rollback", json={"reason": "trial over"}, headers=AUTH)
    assert back.status_code == 200 and back.json()["current"]["version"] == 1
    # by the CLI, in another process: the server notices the registry changed
    assert _nirs("models", "promote", workspace, "corn", 2, "--force", "--reason", "cli").returncode == 0
    assert _wait_for_version(client, 2) < 5.0
    assert _nirs("models", "rollback", workspace, "corn").returncode == 0
    assert _wait_for_version(client, 1) < 5.0
    assert served["server"].proc.pid == pid and served["server"].proc.poll() is None
    missing = client.post("/models/corn/promote", json={"version": 9}, headers=AUTH)
    assert missing.status_code == 404 and "no version 9" in missing.json()["detail"]
    assert client.post("/models/corn/promote", json={}, headers=AUTH).status_code == 422
    assert client.post("/models/corn/promote", content=b"[", headers=AUTH).status_code == 400
    assert client.post("/models/corn/promote", json=[1], headers=AUTH).status_code == 422
    listing = client.get("/models").json()
    assert [(v["version"], v["aliases"]) for v in listing] == [(1, ["champion"]), (2, [])]


def test_a_tampered_version_is_not_loaded(served):
    client, workspace = served["client"], served["workspace"]
    registry = ModelRegistry(workspace)
    path = registry.bundle_path(registry.read("corn").version(2))
    original = path.read_bytes()
    try:
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        assert (
            _nirs("models", "promote", workspace, "corn", 2, "--force", "--reason", "tamper").returncode == 0
        )
        deadline = time.monotonic() + 10
        while client.get("/health").json()["last_error"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        health = client.get("/health").json()
        assert "BundleIntegrityError" in health["last_error"] and "hashes to" in health["last_error"]
        assert health["model"]["version"] == 1  # the verified version keeps serving
    finally:
        path.write_bytes(original)
        assert _nirs("models", "rollback", workspace, "corn").returncode == 0
    assert _wait_for_version(client, 1) < 5.0


def test_train_job_registers_a_version(served):
    client, workspace = served["client"], served["workspace"]
    before = len(ModelRegistry(workspace).read("corn").versions)
    accepted = client.post("/jobs/train", json={"promote": True}, headers=AUTH)
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert job["status"] in ("queued", "running") and job["url"] == f"/jobs/{job['job_id']}"
    deadline = time.monotonic() + 300
    while (status := client.get(job["url"], headers=AUTH).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status["status"] == "succeeded", status
    record = ModelRegistry(workspace).read("corn")
    assert len(record.versions) == before + 1 and status["version"] == record.versions[-1].version
    # retrained from version 2's recipe (the latest with one): the same worse model, refused
    assert "refused" in status["promotion"]
    assert client.get("/jobs/nope", headers=AUTH).status_code == 404
    bad = client.post("/jobs/train", json={"template": "/no/such.yaml", "data": "/no/data"}, headers=AUTH)
    assert bad.status_code == 422 and "no such file or folder" in bad.json()["detail"]


def test_usage_log_has_one_line_per_request(served):
    client = served["client"]
    log = served["workspace"] / "logs" / "usage.jsonl"
    before = len(log.read_text().splitlines())
    answer = client.post("/predict", json={"spectra": np.zeros((3, 700)).tolist()}).json()
    client.get("/health")
    lines = [json.loads(line) for line in log.read_text().splitlines()[before:]]
    assert [(x["route"], x["status"], x["n_spectra"]) for x in lines] == [
        ("/predict", 200, 3),
        ("/health", 200, 0),
    ]
    assert all(x["model"] == "corn" and x["version"] == 1 and x["latency_ms"] > 0 for x in lines)
    assert lines[0]["in_domain"] == sum(p["in_domain"] for p in answer["predictions"])


def test_model_path_server_without_token(corn_registry, tmp_path, corn_arrays):
    workspace = corn_registry["workspace"]
    bundle = workspace / ModelRegistry(workspace).read("corn").version(1).path
    server = Server("--usage-log", str(tmp_path / "usage.jsonl"), env=_env(MODEL_PATH=str(bundle)))
    try:
        client = server.client
        current = client.get("/models/current").json()
        assert current["version"] is None and current["name"]
        expected = _nirs_predict(bundle, corn_registry["corn"] / "Xval.csv", tmp_path / "p.csv")
        assert np.array_equal(
            _values(client.post("/predict", json={"spectra": corn_arrays["Xval"].tolist()})), expected
        )
        assert len(client.get("/models").json()) == 1
        off = client.post("/models/corn/promote", json={"version": 1}, headers=AUTH)
        assert off.status_code == 403 and "NIRS_ADMIN_TOKEN" in off.json()["detail"]
    finally:
        server.stop()
    assert (tmp_path / "usage.jsonl").read_text().count("\n") >= 4


def test_serve_refuses_an_unclear_source(corn_registry):
    neither = _nirs("serve", "--port", str(_free_port()))
    assert neither.returncode == 2 and "expected --workspace WS --model NAME" in neither.stderr
    both = subprocess.run(
        [sys.executable, "-m", "nirs_core.cli", "serve", "--model", "corn", "--port", str(_free_port())],
        capture_output=True,
        text=True,
        env=_env(MODEL_PATH="x.zip"),
    )
    assert both.returncode == 2 and "got both $MODEL_PATH (x.zip) and --model corn" in both.stderr
