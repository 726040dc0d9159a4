"""One sweep in process, on a Dask LocalCluster with 1 and 2 workers, and through Dagster in
several runs: the speed-ups against the in-process time, measured in one run.

    python bench/scale.py [--dataset PATH] [--samples N] [--components N] [--repeats N]
                          [--runs N] [--slots N] [--skip-dagster]

The sweep: KFold(5, shuffle, random_state 0), then one of 10 preprocessings (SNV, MSC, RNV,
Detrend, four Savitzky-Golay derivatives, Norris-Williams, SNV-like LSNV), then PLS(scale=False)
with n_components 1..``--components`` (30): 300 results in 10 component sweeps, the units the
engine sends to a worker. The dataset is ``../shared/data/corn``'s calibration spectra repeated
with noise to ``--samples`` (600) rows plus its 20 test rows, written as a cal/val folder
(``bench/_tiled.py``), so that each sweep is worth sending to a worker.

1. **In process**: ``nirs_core.run(template, folder, workspace)`` (load, 300 results, every file
   written), best of ``--repeats`` rounds after a warm-up round.
   The engine's sweeps use one BLAS thread (``nirs_core.app.executors``: the same bits
   everywhere); for comparison, also with BLAS on every core, as before that choice (its scores
   differ in the last bits: the reason for it).
2. **Dask**: the same call with ``executor=DaskExecutor("local", n_workers=k)`` for k = 1 and 2
   (single-threaded worker processes; both clusters are started before the timing). The driver
   scatters the dataset, the workers compute the sweeps, the driver stores every result. Scores
   are checked equal to the in-process ones. Steps 1 and 2 run round by round (every mode once
   per round, the best round of each kept), so that a change in the machine's load falls on all
   of them.
3. **Dagster** (unless ``--skip-dagster``): ``spectra`` of the dataset, then the results sensor's
   runs (``results_requests`` with the limit that ``NIRS_MAX_CONFIGS_PER_RUN`` sets: cuts between
   component sweeps) cutting the sweep into about ``--runs`` (4) runs,
   each executed by ``dagster.materialize`` in a process of its own, ``--slots`` (2) at a time
   (what a run launcher with that many slots does; one run per slot keeps the engine's sweeps in
   process), on one SQLite instance. The time is from the first run's start to the last one's
   end; the leaderboard is checked equal to the in-process scores.

Printed: seconds and the speed-up of each against the in-process time, how many cores this
process may use (2 workers cannot beat 1 on one core), the 2-worker against the 1-worker time
and the machine's load averages at the start and the end (other processes on the cores make
every ratio smaller). Nothing is asserted: read the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PREPROCESSINGS = [
    "SNV",
    "MSC",
    "RNV",
    "Detrend",
    {"class": "SavitzkyGolay", "params": {"window_length": 11, "polyorder": 2, "deriv": 1}},
    {"class": "SavitzkyGolay", "params": {"window_length": 15, "polyorder": 2, "deriv": 1}},
    {"class": "SavitzkyGolay", "params": {"window_length": 21, "polyorder": 2, "deriv": 1}},
    {"class": "SavitzkyGolay", "params": {"window_length": 25, "polyorder": 3, "deriv": 2}},
    "NorrisWilliams",
    "LSNV",
]


def template(components: int) -> dict:
    return {
        "name": "scale_sweep",
        "pipeline": [
            {
                "split": {
                    "class": "sklearn.model_selection.KFold",
                    "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
                }
            },
            {"_or_": PREPROCESSINGS},
            {
                "model": {"class": "PLS", "params": {"scale": False}},
                "param": "n_components",
                "_range_": [1, components, 1],
            },
        ],
    }


def _scores(run) -> dict[str, tuple]:
    return {r["config_id"]: (r["cv_score"], r["test_score"]) for r in run.results}


def compare(got: dict, want: dict) -> str:
    """'yes' when every (cv, test) score is equal; else how many differ and by how much."""
    if got == want:
        return "yes"
    missing = len(set(want) - set(got))
    differ = [k for k in want if k in got and got[k] != want[k]]
    worst = max(
        (abs(a - b) / abs(b) for k in differ for a, b in zip(got[k], want[k]) if a is not None and b),
        default=0.0,
    )
    return f"NO: {missing} missing, {len(differ)} differ (largest relative difference {worst:.1e})"


def one_run(folder: Path, tpl: dict, workspace: Path, executor=None) -> tuple[float, dict]:
    import nirs_core

    start = time.perf_counter()
    run = nirs_core.run(tpl, folder, workspace=workspace, executor=executor, progress=False)
    return time.perf_counter() - start, _scores(run)


@contextlib.contextmanager
def _every_core():
    """The in-process executor without its one-BLAS-thread limit."""
    from unittest import mock

    from threadpoolctl import threadpool_limits

    import nirs_core.app.executors as executors

    with (
        mock.patch.object(executors, "one_blas_thread", contextlib.nullcontext),
        threadpool_limits(executors.available_cores(), "blas"),
    ):
        yield


def engine_modes(folder: Path, tpl: dict, root: Path, repeats: int) -> dict[str, tuple[float, dict]]:
    """In process and on LocalClusters of 1 and 2 workers, round by round (each round times every
    mode once, so a change in the machine's load falls on all of them), after a warm-up round;
    per mode the best seconds and the scores of its last run."""
    from nirs_core.app.executors import DaskExecutor

    modes = {
        "in process": None,
        "in process, BLAS on every core": 0,
        "Dask LocalCluster, 1 worker": 1,
        "Dask LocalCluster, 2 workers": 2,
    }
    best = dict.fromkeys(modes, math.inf)
    scores: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        executors = {}
        for label, workers in modes.items():
            if workers:
                executors[label] = stack.enter_context(DaskExecutor("local", n_workers=workers))
                executors[label].client.wait_for_workers(workers)
            else:
                executors[label] = None
        for round_ in range(repeats + 1):
            for m, (label, executor) in enumerate(executors.items()):
                with _every_core() if modes[label] == 0 else contextlib.nullcontext():
                    seconds, scores[label] = one_run(folder, tpl, root / f"round{round_}-mode{m}", executor)
                if round_:  # round 0 warms up: imports on the workers, the page cache
                    best[label] = min(best[label], seconds)
                    print(f"  round {round_}: {label}: {seconds:.2f} s", flush=True)
    return {label: (best[label], scores[label]) for label in modes}


# ----------------------------------------------------------------------------- Dagster


def _dagster_run(home: str, roots: dict, tags: dict | None, partition: str | None, names: list[str]) -> float:
    """One Dagster run in this (child) process; its seconds."""
    import dagster as dg

    from nirs_dagster import checks
    from nirs_dagster.assets import ALL_ASSETS
    from nirs_dagster.io_managers import NirsIOManager
    from nirs_dagster.resources import NirsResource

    if not names:
        return 0.0  # warm-up: the imports above
    nirs = NirsResource(**roots)
    everything = [*ALL_ASSETS, checks.spectra_valid, checks.predictions_beat_mean]
    by_name = {a.key.to_user_string(): a for a in ALL_ASSETS}
    by_name |= {"spectra_valid": checks.spectra_valid, "predictions_beat_mean": checks.predictions_beat_mean}
    start = time.perf_counter()
    with dg.DagsterInstance.from_config(home) as instance:
        result = dg.materialize(
            everything,
            selection=[by_name[n] for n in names],
            instance=instance,
            resources={"nirs": nirs, "io_manager": NirsIOManager(nirs=nirs)},
            tags=tags,
            partition_key=partition,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    if not result.success:
        raise RuntimeError(f"the Dagster run of {names} failed")
    return time.perf_counter() - start


def through_dagster(folder: Path, tpl: dict, root: Path, runs: int, slots: int) -> dict:
    import dagster as dg

    from nirs_dagster.partitions import ConfigCatalogue, dataset_key
    from nirs_dagster.sensors import results_requests, sweep_labels

    data, templates, home = root / "data", root / "templates", root / "dagster_home"
    for d in (data, templates, home):
        d.mkdir(parents=True)
    (data / folder.name).symlink_to(folder, target_is_directory=True)
    (templates / "scale.json").write_text(json.dumps(tpl))
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    roots = {"data_dir": str(data), "templates_dir": str(templates), "workspace": str(root / "workspace")}
    from nirs_dagster.resources import NirsResource

    nirs = NirsResource(**roots)
    ids = list(ConfigCatalogue(nirs.dagster_path()).register(templates / "scale.json").config_ids)
    key = dataset_key(data / folder.name)
    per_run = -(-len(ids) // runs)
    ctx = multiprocessing.get_context("spawn")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("config", ids)
        instance.add_dynamic_partitions("dataset", [key])
    with ProcessPoolExecutor(max_workers=slots, mp_context=ctx) as pool:
        list(pool.map(_dagster_run, *zip(*[(str(home), roots, None, None, [])] * slots)))  # warm-up
        spectra = pool.submit(
            _dagster_run, str(home), roots, None, key, ["spectra", "spectra_valid"]
        ).result()
        with dg.DagsterInstance.from_config(str(home)) as instance:
            catalogue = ConfigCatalogue(nirs.dagster_path())
            requests = results_requests(instance, key, ids, per_run, sweep_labels(catalogue, ids))
        names = ["fitted_pipeline", "predictions", "predictions_beat_mean"]
        start = time.perf_counter()
        futures = [pool.submit(_dagster_run, str(home), roots, dict(r.tags), None, names) for r in requests]
        each = [f.result() for f in futures]
        sweep = time.perf_counter() - start
        board = pool.submit(_dagster_run, str(home), roots, None, key, ["leaderboard"]).result()
    from nirs_dagster.io_managers import read_value

    table = read_value(root / "workspace" / "dagster" / "leaderboard" / key)
    scores = {row["config_id"]: (row["cv_score"], row["test_score"]) for row in table.iter_rows(named=True)}
    return {"runs": len(requests), "per_run": per_run, "sweep": sweep, "each": each,
            "spectra": spectra, "leaderboard": board, "scores": scores}  # fmt: skip


# ----------------------------------------------------------------------------- main


def _load() -> str:
    """The machine's load averages, as ``uptime`` prints them."""
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # not available on this platform
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=HERE.parent.parent / "shared" / "data" / "corn")
    parser.add_argument("--samples", type=int, default=600, help="calibration rows after tiling")
    parser.add_argument("--components", type=int, default=30, help="PLS sizes 1..N per preprocessing")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--runs", type=int, default=4, help="Dagster runs the sweep is cut into")
    parser.add_argument("--slots", type=int, default=2, help="Dagster runs at a time")
    parser.add_argument("--skip-dagster", action="store_true")
    args = parser.parse_args()
    if not args.dataset.is_dir():
        sys.exit(f"dataset not found: {args.dataset} (pass --dataset PATH)")

    from _tiled import tiled_dataset, write_cal_val

    from nirs_core.app.executors import available_cores
    from nirs_core.data import load

    start_load = _load()
    tpl = template(args.components)
    n_results = len(PREPROCESSINGS) * args.components
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = write_cal_val(tiled_dataset(load(args.dataset), args.samples), root / f"corn{args.samples}")
        print(
            f"dataset: {args.dataset.name}'s calibration spectra tiled to {args.samples} rows (+ its test rows)"
        )
        print(f"sweep: {len(PREPROCESSINGS)} preprocessings × PLS 1..{args.components} = {n_results} results, "
              f"5-fold CV; cores available: {available_cores()}")  # fmt: skip
        measured = engine_modes(folder, tpl, root / "engine", args.repeats)
        base, reference = measured["in process"]
        rows = [(label, seconds, compare(scores, reference)) for label, (seconds, scores) in measured.items()]
        dagster = None
        if not args.skip_dagster:
            dagster = through_dagster(folder, tpl, root / "dagster", args.runs, args.slots)
            label = (
                f"Dagster, {dagster['runs']} runs of ≤ {dagster['per_run']} configs, {args.slots} at a time"
            )
            rows.append((label, dagster["sweep"], compare(dagster["scores"], reference)))
    print()
    print(f"{'':<52} {'seconds':>8} {'speed-up':>9}  scores equal")
    for label, seconds, same in rows:
        print(f"{label:<52} {seconds:8.2f} {base / seconds:8.2f}×  {same}")
    one, two = measured["Dask LocalCluster, 1 worker"][0], measured["Dask LocalCluster, 2 workers"][0]
    print(f"\n2 workers against 1 worker: {one / two:.2f}×; load average (1, 5, 15 min) at the start "
          f"{start_load}, at the end {_load()} (other processes on the cores make every ratio smaller)")  # fmt: skip
    if dagster is not None:
        each = ", ".join(f"{s:.2f}" for s in dagster["each"])
        print(f"\nDagster runs (s): {each}; spectra run {dagster['spectra']:.2f} s, leaderboard run "
              f"{dagster['leaderboard']:.2f} s (not in the sweep's time)")  # fmt: skip


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
