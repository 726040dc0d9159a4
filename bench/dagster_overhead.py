"""What Dagster adds to a sweep: the engine alone against the same sweep materialised through
Dagster, measured in one run.

    python bench/dagster_overhead.py [--dataset PATH] [--samples N] [--template YAML] [--repeats N]
                                     [--dev [--dev-repeats N] [--screenshot lineage.png]]

The sweep is ``examples/corn_pls_sweep.yaml`` (SNV, Savitzky-Golay or MSC, then PLS with 7
sizes: 21 configs, 5-fold CV, refit) on ``../shared/data/corn`` unless told otherwise;
``--samples 430`` measures on its calibration spectra repeated with noise to 430 samples in
all (the size the issue names), written as a cal/val folder first.

1. **Engine only**: ``execute_batch`` over the 21 configs of the loaded dataset (best of
   ``--repeats`` after a warm-up; nothing written); and **the engine run**,
   ``nirs_core.run`` of the template on the dataset into a fresh workspace (what ``nirs run``
   does: the same computation plus the run's files, manifests, graphs, artefacts and the
   predictions parquet; best of ``--repeats``).
2. **Through Dagster, in process**: the three runs that the sensors request, each with
   ``dagster.materialize`` on one instance (a temporary SQLite instance, as ``dagster dev``
   uses): ``spectra`` of the dataset, then one run over the 21 ``dataset × config`` partitions
   (``fitted_pipeline``, which is one engine run, ``predictions`` and the blocking predictions
   check), then ``leaderboard``, ``datasheet`` and ``model_bundle`` with their checks. Every
   value is a record written by the IO manager, every partition gets its metadata (the runtime
   DAG drawn as a PNG). Printed: the time of the 21-config run against the engine's and the
   engine run's, the difference, and the whole graph.
3. **Through ``dagster dev``** (``--dev``): a ``dagster dev`` process on a temporary
   ``DAGSTER_HOME`` (with the project's ``dagster_home/dagster.yaml``), ``NIRS_TEMPLATES_DIR``
   holding the template and an empty ``NIRS_DATA_DIR``. Once the inbox sensor has registered
   the template's configs, the dataset folder is dropped into ``NIRS_DATA_DIR`` (copied beside
   it, then renamed); no other action. Printed: seconds from the drop until the ``spectra``
   partition, all the ``predictions`` partitions and the ``leaderboard`` partition of the
   dataset are materialised (the target: the engine's time plus 30 s); whether
   ``Definitions.load_asset_value("leaderboard")`` equals ``nirs_core.run`` on the same inputs;
   and the assets and their parents as the web server's GraphQL ``assetNodes`` reports them;
   with ``--screenshot PATH``, a headless Chromium screenshot of the lineage page
   (``/asset-groups``). ``--dev-repeats N`` repeats this with a new ``dagster dev`` each time.
   Three runs stand between the drop and the leaderboard (``spectra``; the configs' results;
   the reports), each requested by a sensor evaluated every 5 s, taken from the queue within a
   second and started as a process of its own: most of the time is that, not work.

Nothing is asserted: read the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
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
sys.path.insert(0, str(REPO / "bench"))
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


def engine_run(dataset: Path, template: Path, repeats: int) -> float:
    """Best of ``repeats`` of ``nirs_core.run`` into a fresh workspace (what ``nirs run`` does)."""
    from nirs_core.app.run import run

    best = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="nirs_run_bench_") as tmp:
            start = time.perf_counter()
            run(templates=[template], datasets=[dataset], workspace=tmp, progress=False)
            best = min(best, time.perf_counter() - start)
    return best


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
                ["fitted_pipeline", "predictions", "predictions_beat_mean"],
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


def _materialised(instance, name: str, dataset: str) -> int:
    """How many partitions of asset ``name`` that belong to ``dataset`` are materialised."""
    import dagster as dg

    done = instance.get_materialized_partitions(dg.AssetKey(name))
    return sum(1 for key in done if dataset in key.split("|"))


def through_dagster_dev(
    dataset: Path, template: Path, root: Path, port: int, timeout: float, shot: Path | None = None
) -> dict[str, float]:
    """Seconds from the dataset's drop into the inbox until ``spectra``, every ``predictions``
    partition and ``leaderboard`` of it are materialised, by a ``dagster dev`` already up."""
    import dagster as dg

    import nirs_core.app.run as nirs_run

    home, data, templates = root / "dagster_home", root / "data", root / "templates"
    for folder in (home, data, templates):
        folder.mkdir(parents=True)
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")  # the shipped settings
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
    key = dataset.name
    try:
        from nirs_dagster.definitions import defs

        with dg.DagsterInstance.get() as instance:
            # Up: the inbox sensor has ticked once (the template's configs are partitions).
            while time.perf_counter() - start < timeout and not instance.get_dynamic_partitions("config"):
                time.sleep(0.5)
            n_configs = len(instance.get_dynamic_partitions("config"))
            ready = time.perf_counter() - start
            print(f"  dagster dev up, {n_configs} configs registered after {ready:5.1f} s; dropping {key}/")
            time.sleep(random.uniform(1, 6))  # at any point of the sensors' 5 s cycle
            incoming = data / f"_{key}.incoming"  # names starting with _ are not datasets
            shutil.copytree(dataset, incoming)
            incoming.rename(data / key)
            drop = time.perf_counter()
            wanted = {"spectra": 1, "predictions": n_configs, "leaderboard": 1}
            while time.perf_counter() - drop < timeout and "leaderboard" not in seen:
                time.sleep(0.5)
                for name, count in wanted.items():
                    if name not in seen and _materialised(instance, name, key) >= count:
                        seen[name] = time.perf_counter() - drop
            for name in wanted:
                label = f"{name} ({n_configs} partitions)" if name == "predictions" else name
                at = f"{seen[name]:6.1f} s" if name in seen else f"not within {timeout:.0f} s"
                print(f"  {label:<28} materialised {at} after the drop")
            if "leaderboard" in seen:
                board = defs.load_asset_value("leaderboard", partition_key=key, instance=instance)
                run = nirs_run.run(
                    templates=[templates / template.name],
                    datasets=[data / key],
                    workspace=root / "nirs_run",
                    progress=False,
                )
                expected = {r["config_id"]: (r["cv_score"], r["test_score"]) for r in run.results}
                got = {r["config_id"]: (r["cv_score"], r["test_score"]) for r in board.iter_rows(named=True)}
                print(
                    f"  leaderboard == nirs_core.run on the same inputs: {got == expected} ({len(got)} configs)"
                )
            # The datasheet and the bundle are still being made: let that run end before stopping.
            going = dg.RunsFilter(
                statuses=[
                    dg.DagsterRunStatus.QUEUED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.STARTED,
                    dg.DagsterRunStatus.NOT_STARTED,
                ]
            )
            while instance.get_runs(filters=going) and time.perf_counter() - drop < timeout:
                time.sleep(0.5)
            # Where the time goes: each run's creation (by a sensor), start and end after the drop.
            print("  runs (seconds after the drop: requested → started → ended):")
            dropped_at = time.time() - (time.perf_counter() - drop)
            for record in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp.timestamp()):
                assets = ", ".join(
                    k.to_user_string() for k in sorted(record.dagster_run.asset_selection or [])
                )
                marks = [record.create_timestamp.timestamp(), record.start_time, record.end_time]
                when = " → ".join("-" if t is None else f"{t - dropped_at:5.1f}" for t in marks)
                print(f"    {when}  {record.dagster_run.status.value.lower():<8} {assets}")
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
            dev.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
        log.close()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=REPO.parent / "shared" / "data" / "corn")
    parser.add_argument("--template", type=Path, default=REPO / "examples" / "corn_pls_sweep.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dev", action="store_true", help="also measure through a dagster dev process")
    parser.add_argument("--port", type=int, default=3311)
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument(
        "--dev-repeats", type=int, default=1, help="with --dev: rounds, each a new dagster dev"
    )
    parser.add_argument("--screenshot", type=Path, help="with --dev: save a PNG of the lineage page here")
    parser.add_argument(
        "--samples",
        type=int,
        help="measure on the dataset's calibration spectra repeated with noise to this many samples "
        "in all (its test rows kept), written as a cal/val folder (the issue's 430-sample case)",
    )
    args = parser.parse_args()
    if not args.dataset.exists():
        sys.exit(f"dataset not found: {args.dataset} (pass --dataset PATH)")
    with contextlib.ExitStack() as stack:
        if args.samples:
            args.dataset = _tiled_folder(
                args.dataset, args.samples, Path(stack.enter_context(tempfile.TemporaryDirectory()))
            )
        _measure(args)


def _tiled_folder(dataset: Path, samples: int, tmp: Path) -> Path:
    from _tiled import tiled_dataset, write_cal_val

    from nirs_core.data import load

    seed = load(dataset)
    n_test = len(seed.y({"partition": "test"}))
    if samples <= n_test:
        sys.exit(f"--samples {samples}: must exceed the dataset's {n_test} test samples")
    folder = write_cal_val(tiled_dataset(seed, samples - n_test), tmp / f"{dataset.name}{samples}")
    print(
        f"dataset: {folder.name}, {dataset.name}'s calibration spectra repeated with noise to "
        f"{samples - n_test} + its {n_test} test samples = {samples}"
    )
    return folder


def _measure(args: argparse.Namespace) -> None:

    engine, n = engine_only(args.dataset, args.template, args.repeats)
    stored = engine_run(args.dataset, args.template, args.repeats)
    with tempfile.TemporaryDirectory(prefix="nirs_dagster_bench_") as tmp:
        times = through_dagster(args.dataset, args.template, Path(tmp))
        print(f"sweep: {n} configs of {args.template.name} on {args.dataset.name}")
        print(f"  engine only (execute_batch, best of {args.repeats}):       {engine:7.3f} s")
        print(
            f"  engine run (nirs_core.run into a workspace):         {stored:7.3f} s "
            f"(×{stored / engine:.2f} the engine only)"
        )
        print(
            f"  through Dagster, the {n}-config run:                  {times['results']:7.3f} s "
            f"(engine + {times['results'] - engine:.3f} s, ×{times['results'] / engine:.2f}; "
            f"×{times['results'] / stored:.2f} the engine run)"
        )
        print(
            f"  through Dagster, spectra run / reports run:          {times['spectra']:7.3f} s / {times['reports']:.3f} s"
        )
        print(f"  through Dagster, the whole graph (3 runs):           {sum(times.values()):7.3f} s")
    if args.dev:
        rounds = []
        for i in range(args.dev_repeats):
            with tempfile.TemporaryDirectory(prefix="nirs_dagster_dev_") as tmp:
                print(
                    f"through dagster dev, round {i + 1} of {args.dev_repeats} "
                    "(inbox sensor → spectra run → results sensor → results run → automation → reports run):"
                )
                rounds.append(
                    through_dagster_dev(
                        args.dataset,
                        args.template,
                        Path(tmp),
                        args.port,
                        args.timeout,
                        args.screenshot if i == 0 else None,
                    )
                )
        print(f"summary: engine only {engine:.3f} s; target engine + 30 s = {engine + 30:.1f} s")
        for name in ("spectra", "predictions", "leaderboard"):
            times_ = ", ".join(f"{r[name]:.1f}" if name in r else "-" for r in rounds)
            print(f"  {name:<12} after the drop: {times_} s")


if __name__ == "__main__":
    main()
