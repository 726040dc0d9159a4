"""What Dagster adds to a sweep: the engine alone against the same sweep materialised through
Dagster, measured in one run.

    python bench/dagster_overhead.py [--dataset PATH] [--template YAML] [--repeats N]
                                     [--dev [--screenshot lineage.png]]

The sweep is ``examples/corn_pls_sweep.yaml`` (SNV, Savitzky-Golay or MSC, then PLS with 7
sizes: 21 configs, 5-fold CV, refit) on ``../shared/data/corn`` unless told otherwise.

1. **Engine only**: ``execute_batch`` over the 21 configs of the loaded dataset (best of
   ``--repeats`` after a warm-up; nothing written).
2. **Through Dagster, in process**: the runs that a backfill makes, each with
   ``dagster.materialize`` on one instance (a temporary SQLite instance, as ``dagster dev``
   uses): ``spectra`` of the dataset, then one run over the 21 ``dataset × config`` partitions
   (``preprocessed``, ``fitted_pipeline``, ``predictions`` and the blocking predictions check),
   then ``leaderboard``, ``datasheet`` and ``model_bundle`` with their checks. Every value is
   written by the IO manager, every partition gets its metadata. Printed: the time of the
   21-config run against the engine's, the difference, and the whole graph.
3. **Through ``dagster dev``** (``--dev``): a ``dagster dev`` process on a temporary
   ``DAGSTER_HOME`` with ``NIRS_DATA_DIR`` holding the dataset and ``NIRS_TEMPLATES_DIR``
   holding the template; no other action. Printed: seconds from the start until the
   sensor's ``spectra`` run, all 21 ``predictions`` partitions and the ``leaderboard``
   partition are materialised; whether ``Definitions.load_asset_value("leaderboard")`` equals
   ``nirs_core.run`` on the same inputs; and the assets and their parents as the web server's
   GraphQL ``assetNodes`` reports them; with ``--screenshot PATH``, a headless Chromium
   screenshot of the lineage page (``/asset-groups``). Most of this time is the daemons' polling (the
   automation sensor, then the backfill daemon, each at most every 30 s), not work.

Nothing is asserted: read the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")


def engine_only(dataset: Path, template: Path, repeats: int) -> tuple[float, int]:
    from nirs_core.data import load
    from nirs_core.pipeline.cache import PreprocessingCache
    from nirs_core.pipeline.executor import execute_batch
    from nirs_core.pipeline.generators import expand, load_template

    ds = load(dataset)
    configs = expand(load_template(template))
    execute_batch(configs, ds, cache=PreprocessingCache())  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        execute_batch(configs, ds, cache=PreprocessingCache())
        best = min(best, time.perf_counter() - start)
    return best, len(configs)


def through_dagster(dataset: Path, template: Path, root: Path) -> dict[str, float]:
    import dagster as dg

    from nirs_dagster import checks
    from nirs_dagster.assets import ALL_ASSETS
    from nirs_dagster.definitions import build_defs
    from nirs_dagster.partitions import ConfigCatalogue, dataset_key
    from nirs_dagster.resources import NirsResource

    data, templates = root / "data", root / "templates"
    data.mkdir(parents=True)
    templates.mkdir()
    shutil.copytree(dataset, data / dataset.name)
    shutil.copy(template, templates / template.name)
    nirs = NirsResource(data_dir=str(data), templates_dir=str(templates), workspace=str(root / "workspace"))
    defs = build_defs(nirs)
    resources = {"nirs": nirs, "io_manager": defs.resources["io_manager"]}
    everything = [
        *ALL_ASSETS,
        checks.spectra_valid,
        checks.predictions_beat_mean,
        checks.model_bundle_replays,
    ]
    key = dataset_key(data / dataset.name)
    times = {}
    (root / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(root / "dagster_home")) as instance:
        ids = list(ConfigCatalogue(nirs.dagster_path()).register(templates / template.name).config_ids)
        instance.add_dynamic_partitions("config", ids)
        instance.add_dynamic_partitions("dataset", [key])
        first = dg.MultiPartitionKey({"dataset": key, "config": ids[0]})
        last = dg.MultiPartitionKey({"dataset": key, "config": ids[-1]})
        stages = {
            "spectra": ({"partition_key": key}, ["spectra", "spectra_valid"]),
            "results": (
                {
                    "tags": {
                        "dagster/asset_partition_range_start": str(first),
                        "dagster/asset_partition_range_end": str(last),
                    }
                },
                ["preprocessed", "fitted_pipeline", "predictions", "predictions_beat_mean"],
            ),
            "reports": (
                {"partition_key": key},
                ["leaderboard", "datasheet", "model_bundle", "model_bundle_replays"],
            ),
        }
        by_name = {a.key.to_user_string(): a for a in ALL_ASSETS}
        by_name.update(
            spectra_valid=checks.spectra_valid,
            predictions_beat_mean=checks.predictions_beat_mean,
            model_bundle_replays=checks.model_bundle_replays,
        )
        for stage, (kwargs, names) in stages.items():
            start = time.perf_counter()
            result = dg.materialize(
                everything,
                selection=[by_name[n] for n in names],
                instance=instance,
                resources=resources,
                **kwargs,
            )
            times[stage] = time.perf_counter() - start
            if not result.success:
                raise RuntimeError(f"the {stage} run failed")
    return times


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def screenshot(url: str, path: Path) -> bool:
    """A PNG of ``url`` by headless Chromium (``chromium-headless-shell`` or ``chromium``);
    False when neither is installed."""
    browser = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if browser is None:
        return False
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1600,1000",
            "--virtual-time-budget=20000",
            f"--screenshot={path}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path.is_file()


def through_dagster_dev(
    dataset: Path, template: Path, root: Path, port: int, timeout: float, shot: Path | None = None
) -> None:
    import dagster as dg

    import nirs_core.pipeline.run as nirs_run

    home, data, templates = root / "dagster_home", root / "data", root / "templates"
    for folder in (home, data, templates):
        folder.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    shutil.copytree(dataset, data / dataset.name)
    shutil.copy(template, templates / template.name)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "NIRS_DATA_DIR": str(data),
        "NIRS_TEMPLATES_DIR": str(templates),
        "NIRS_WORKSPACE": str(root / "workspace"),
    }
    os.environ.update(
        {k: env[k] for k in ("DAGSTER_HOME", "NIRS_DATA_DIR", "NIRS_TEMPLATES_DIR", "NIRS_WORKSPACE")}
    )
    log = open(root / "dagster_dev.log", "w")
    start = time.perf_counter()
    dev = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-w",
            str(REPO / "workspace.yaml"),
            "-p",
            str(port),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    seen: dict[str, float] = {}
    try:
        from nirs_dagster.definitions import defs

        with dg.DagsterInstance.get() as instance:
            while time.perf_counter() - start < timeout and "leaderboard" not in seen:
                time.sleep(2)
                for name in ("spectra", "predictions", "leaderboard"):
                    if name in seen:
                        continue
                    done = instance.get_materialized_partitions(dg.AssetKey(name))
                    configs = instance.get_dynamic_partitions("config")
                    if done and (name != "predictions" or (configs and len(done) >= len(configs))):
                        seen[name] = time.perf_counter() - start
            for name in ("spectra", "predictions", "leaderboard"):
                at = f"{seen[name]:6.1f} s" if name in seen else f"not within {timeout:.0f} s"
                print(f"  {name:<12} materialised after {at} (from the start of dagster dev)")
            if "leaderboard" in seen:
                key = dataset.name
                board = defs.load_asset_value("leaderboard", partition_key=key, instance=instance)
                run = nirs_run.run(
                    templates=[templates / template.name],
                    datasets=[data / dataset.name],
                    workspace=root / "nirs_run",
                    progress=False,
                )
                expected = {r["config_id"]: (r["cv_score"], r["test_score"]) for r in run.results}
                got = {r["config_id"]: (r["cv_score"], r["test_score"]) for r in board.iter_rows(named=True)}
                print(
                    f"  leaderboard == nirs_core.run on the same inputs: {got == expected} ({len(got)} configs)"
                )
        with contextlib.suppress(OSError):
            nodes = _graphql(port, "{ assetNodes { assetKey { path } dependencyKeys { path } } }")[
                "assetNodes"
            ]
            print("  GraphQL assetNodes:")
            for node in sorted(nodes, key=lambda n: n["assetKey"]["path"]):
                parents = ", ".join(sorted("/".join(d["path"]) for d in node["dependencyKeys"])) or "-"
                print(f"    {'/'.join(node['assetKey']['path']):<16} ← {parents}")
        if shot is not None:
            url = f"http://127.0.0.1:{port}/asset-groups"
            with contextlib.suppress(OSError):  # the first-visit newsletter dialog would cover the graph
                _graphql(port, "mutation { setNuxSeen }")
            taken = screenshot(url, shot.resolve())
            print(
                f"  lineage page {url}: " + (f"screenshot {shot}" if taken else "no headless Chromium found")
            )
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        try:
            dev.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=REPO.parent / "shared" / "data" / "corn")
    parser.add_argument("--template", type=Path, default=REPO / "examples" / "corn_pls_sweep.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dev", action="store_true", help="also measure through a dagster dev process")
    parser.add_argument("--port", type=int, default=3311)
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--screenshot", type=Path, help="with --dev: save a PNG of the lineage page here")
    args = parser.parse_args()
    if not args.dataset.exists():
        sys.exit(f"dataset not found: {args.dataset} (pass --dataset PATH)")

    engine, n = engine_only(args.dataset, args.template, args.repeats)
    with tempfile.TemporaryDirectory(prefix="nirs_dagster_bench_") as tmp:
        times = through_dagster(args.dataset, args.template, Path(tmp))
        print(f"sweep: {n} configs of {args.template.name} on {args.dataset.name}")
        print(f"  engine only (execute_batch, best of {args.repeats}):       {engine:7.3f} s")
        print(
            f"  through Dagster, the {n}-config run:                  {times['results']:7.3f} s "
            f"(engine + {times['results'] - engine:.3f} s, ×{times['results'] / engine:.2f})"
        )
        print(
            f"  through Dagster, spectra run / reports run:          {times['spectra']:7.3f} s / {times['reports']:.3f} s"
        )
        print(f"  through Dagster, the whole graph (3 runs):           {sum(times.values()):7.3f} s")
    if args.dev:
        with tempfile.TemporaryDirectory(prefix="nirs_dagster_dev_") as tmp:
            print("through dagster dev (sensor → automation → backfills; no click):")
            through_dagster_dev(
                args.dataset, args.template, Path(tmp), args.port, args.timeout, args.screenshot
            )


if __name__ == "__main__":
    main()
