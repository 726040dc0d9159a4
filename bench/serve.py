"""Latency and throughput of `nirs serve` on loopback, against in-process replay in the same run.

    python bench/serve.py [--dataset PATH] [--clients 8] [--requests 200] [--batch 1 100]

Takes about a minute on 2 cores.

1. Trains one model on ../shared/data/corn (Savitzky-Golay 15/2/1st derivative → PLS with 10
   components, 5-fold CV) into a temporary workspace, registers it and promotes it to
   ``champion`` (``nirs_core.app.models``), with a throw-away signing key.
2. Baseline: :func:`nirs_core.app.predict.predict_table` on the opened bundle, in this process,
   one call after another, for each batch size (1 and 100 spectra of Xval/Xcal).
3. Starts ``nirs serve --workspace WS --model corn`` on a free 127.0.0.1 port and, for each batch
   size, runs one client, then ``--clients`` threads (one keep-alive ``http.client`` connection each) that send
   ``--requests`` requests each of JSON ``{"spectra": [...]}``; every response is checked
   against the baseline's values (exact equality).
4. Prints p50 / p99 latency and throughput (requests/s, spectra/s) of both, their ratios, and how
   long a promotion takes to reach ``/models/current`` (registry change → served), then stops
   the server.

Target (issue 14): p99 ≤ 50 ms for single-spectrum requests on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = """name: bench_serve
pipeline:
  - split:
      class: sklearn.model_selection.KFold
      params: {n_splits: 5, shuffle: true, random_state: 0}
  - class: SavitzkyGolay
    params: {window_length: 15, polyorder: 2, deriv: 1}
  - model:
      class: PLS
      params: {n_components: 10, scale: false}
"""


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spectra(dataset: Path, at_least: int) -> np.ndarray:
    """Xval then Xcal, repeated until there are at least ``2 * at_least`` rows."""
    names = ("Xval.csv", "Xcal.csv")
    rows = np.vstack([np.loadtxt(dataset / name, delimiter=";", skiprows=1, ndmin=2) for name in names])
    return np.tile(rows, (-(-2 * at_least // rows.shape[0]), 1))


def _in_process(bundle, X: np.ndarray, batch: int, n: int) -> dict:
    from nirs_core.app.predict import predict_table

    latencies = []
    for i in range(n):
        start = (i * batch) % (X.shape[0] - batch + 1)
        chunk = X[start : start + batch]
        t0 = time.perf_counter()
        predict_table(bundle, chunk)
        latencies.append(time.perf_counter() - t0)
    total = sum(latencies)
    return {"latencies": latencies, "seconds": total, "requests": n, "spectra": n * batch}


def _over_http(port: int, X: np.ndarray, batch: int, clients: int, per_client: int, expected) -> dict:
    """``clients`` threads, each with one keep-alive ``http.client`` connection (httpx costs a
    few milliseconds of client CPU per request, which would be measured as server latency)."""
    import http.client
    import json

    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def post(conn, body: bytes) -> tuple[int, bytes]:
        conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()

    # the bodies are encoded before the clock starts (a client's JSON encoding is its own cost,
    # and 8 client threads encoding 1.4 MB bodies would take the CPU the server is measured on)
    starts = [(i * 7 * batch) % (X.shape[0] - batch + 1) for i in range(10)]
    bodies = [json.dumps({"spectra": X[s : s + batch].tolist()}).encode() for s in starts]

    def run(k: int) -> None:
        mine = []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        post(conn, bodies[0])  # connect and warm up
        for i in range(per_client):
            j = (k + i) % len(bodies)
            t0 = time.perf_counter()
            status, data = post(conn, bodies[j])
            mine.append(time.perf_counter() - t0)
            if status != 200:
                failures.append(f"{status} {data[:200]!r}")
                continue
            got = [p["value"] for p in json.loads(data)["predictions"]]
            if got != expected(starts[j], batch):
                failures.append(f"client {k} request {i}: values differ from in-process replay")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "latencies": latencies,
        "seconds": wall,
        "requests": clients * per_client,
        "spectra": clients * per_client * batch,
        "failures": failures,
    }


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"nirs serve exited: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("nirs serve did not become healthy within 120 s")


def _promotion_delay(url: str, workspace: Path) -> float:
    """Seconds from a promotion in the registry (another version) to /models/current showing it."""
    import httpx

    from nirs_core.app.models import promote, register_bundle
    from nirs_core.store.models import ModelRegistry

    registry = ModelRegistry(workspace)
    first = registry.read("corn").version(1)
    again = register_bundle(workspace, "corn", registry.bundle_path(first))
    t0 = time.perf_counter()
    # registered without its prediction rows, it has no ISO statistics: the policy would refuse it
    promote(workspace, "corn", again.version, force=True, reason="bench: the same model again")
    while httpx.get(url + "/models/current", timeout=10).json()["version"] != again.version:
        time.sleep(0.01)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "data" / "corn"))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--requests",
        type=int,
        default=200,
        help="requests per client of one spectrum (a tenth for larger batches)",
    )
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 100])
    args = parser.parse_args()
    dataset = Path(args.dataset)
    if not (dataset / "Xval.csv").is_file():
        raise SystemExit(f"{dataset}: expected the corn folder (Xcal/Xval.csv); pass --dataset")
    os.environ["NIRS_BUNDLE_KEY"] = secrets.token_hex(32)
    os.environ.pop("NIRS_ADMIN_TOKEN", None)

    from nirs_core.app.models import open_version, promote, train_and_register
    from nirs_core.app.predict import predict_table

    X = _spectra(dataset, max(args.batch))
    with tempfile.TemporaryDirectory(prefix="nirs-bench-serve-") as scratch:
        root = Path(scratch)
        (root / "t.yaml").write_text(TEMPLATE)
        workspace = root / "ws"
        out = train_and_register(root / "t.yaml", dataset, "corn", workspace=workspace)
        promote(workspace, "corn", out["version"].version, reason="bench")
        _, bundle = open_version(workspace, "corn")

        def expected(start: int, batch: int) -> list[float]:
            return predict_table(bundle, X[start : start + batch])["values"][:, 0].tolist()

        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nirs_core.cli",
                "serve",
                "--workspace",
                str(workspace),
                "--model",
                "corn",
                "--port",
                str(port),
                "--max-spectra",
                str(max(args.batch)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_healthy(url, proc)
            print(
                f"corn: {X.shape[0]} spectra (80 distinct) × {X.shape[1]} wavelengths; {args.clients} clients; "
                f"{args.requests} requests per client of one spectrum, a tenth as many of larger batches; "
                f"{os.cpu_count()} cores\n"
            )
            header = f"{'batch':>5} {'side':<16} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'spectra/s':>10}"
            print(header)
            print("-" * len(header))
            for batch in args.batch:
                _in_process(bundle, X, batch, 20)  # warm-up
                n = args.requests if batch == 1 else max(10, args.requests // 10)
                base = _in_process(bundle, X, batch, n)
                alone = _over_http(port, X, batch, 1, n, expected)
                http = _over_http(port, X, batch, args.clients, n, expected)
                rows = (
                    ("in-process", base),
                    ("http 1 client", alone),
                    (f"http {args.clients} clients", http),
                )
                for side, m in rows:
                    print(
                        f"{batch:>5} {side:<16} {_percentile(m['latencies'], 50) * 1e3:>8.2f} "
                        f"{_percentile(m['latencies'], 99) * 1e3:>8.2f} {m['requests'] / m['seconds']:>8.0f} "
                        f"{m['spectra'] / m['seconds']:>10.0f}"
                    )
                ratio50 = _percentile(http["latencies"], 50) / _percentile(base["latencies"], 50)
                ratio99 = _percentile(http["latencies"], 99) / _percentile(base["latencies"], 99)
                print(
                    f"{batch:>5} {'http/in-process':<16} {ratio50:>7.1f}× {ratio99:>7.1f}×   "
                    f"{len(http['failures'])} failed or differing responses"
                )
                if http["failures"] or alone["failures"]:
                    print("      first failure:", (alone["failures"] + http["failures"])[0])
            print(f"\npromotion → served by /models/current: {_promotion_delay(url, workspace):.2f} s")
            single = [b for b in args.batch if b == 1]
            if single:
                print("target: p99 ≤ 50 ms for single-spectrum requests (see the http row of batch 1)")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
