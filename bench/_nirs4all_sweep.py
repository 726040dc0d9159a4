"""The nirs4all side of ``bench/sweep.py``: run inside nirs4all's own virtual environment.

    <venv>/bin/python bench/_nirs4all_sweep.py --dataset DIR --workspace DIR [--repeats N | --serve]

Runs the 15-config sweep through nirs4all's public API (``nirs4all.run``): a
``KFold(5, shuffle=True, random_state=0)`` split, an ``_or_`` over SNV,
SavitzkyGolay(15, 2, deriv 1) and MSC, and a ``_range_`` over PLSRegression(scale=False)
``n_components`` 2, 6, 10, 14, 18 (nirs4all's ``_range_`` includes its stop). The dataset
folder is given as a path, so each run loads it, as ``nirs run --data`` does.

The first run is cold (it pays nirs4all's lazy imports and first-call costs); ``--repeats``
more runs follow, each into a fresh workspace folder. With ``--serve`` the script imports
nirs4all, prints ``{"ready": true, "import_s": …}`` and then runs on request (a line ``run``
on stdin; it answers ``{"run_s": …}``), so that the caller can interleave nirs4all's runs with
its own timings; a line ``report`` prints the JSON below for the last run. Without
``--serve``, stdout is that one JSON object:

- ``version``, ``engine`` (the backend nirs4all chose), ``import_s`` (``import nirs4all`` and
  the operator imports), ``run_s`` (one wall time per run, the cold one first);
- ``configs``: per expanded config its nirs4all name, preprocessing, ``n_components`` and
  RMSECV, computed here from nirs4all's own out-of-fold predictions (the five ``val`` entries
  of the config, pooled);
- ``folds``: the validation sample indices of each fold, to compare with scikit-learn's KFold;
- ``selected``: the config nirs4all refit (its choice by RMSECV), its reported RMSECV and the
  refit model's RMSEP.

This file imports nothing from the project: it runs where only nirs4all is installed.
Whatever nirs4all prints goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

N_SPLITS = 5
RANDOM_STATE = 0
RANGE = [2, 18, 4]  # n_components 2, 6, 10, 14, 18
SHORT = {
    "StandardNormalVariate": "SNV",
    "SavitzkyGolay": "SG(15,2,d1)",
    "MultiplicativeScatterCorrection": "MSC",
}


def build_pipeline():
    """The sweep as a nirs4all pipeline (generator keywords from nirs4all's pipeline syntax)."""
    from nirs4all.operators.transforms import (
        MultiplicativeScatterCorrection,
        SavitzkyGolay,
        StandardNormalVariate,
    )
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.model_selection import KFold

    return [
        KFold(n_splits=N_SPLITS, shuffle=True, random_state=RANDOM_STATE),
        {
            "_or_": [
                StandardNormalVariate(),
                SavitzkyGolay(window_length=15, polyorder=2, deriv=1),
                MultiplicativeScatterCorrection(),
            ]
        },
        {"_range_": RANGE, "param": "n_components", "model": PLSRegression(scale=False)},
    ]


def config_labels(pipeline) -> dict[str, dict]:
    """Config hash → preprocessing and n_components, from nirs4all's own expansion.

    ``PipelineConfigs`` names each expanded config ``<name>_<hash of its steps>``, with the
    hash the run uses too (the run's prefix differs: ``sweep_p0_<hash>``)."""
    from nirs4all.pipeline import PipelineConfigs

    expanded = PipelineConfigs(pipeline)
    labels = {}
    for name, choices in zip(expanded.names, expanded.generator_choices):
        prep, n_components = None, None
        for choice in choices:
            if "_or_" in choice:
                value = choice["_or_"]
                path = value["class"] if isinstance(value, dict) else str(value)
                cls = path.rsplit(".", 1)[-1]
                prep = SHORT.get(cls, cls)
            elif "_range_" in choice:
                n_components = int(choice["_range_"])
        labels[_hash(name)] = {"preprocessing": prep, "n_components": n_components}
    return labels


def _hash(config_name: str) -> str:
    return config_name.removesuffix("_refit").rsplit("_", 1)[-1]


def summarise(result, pipeline) -> dict:
    """RMSECV per config from the pooled out-of-fold predictions, the folds, the refit."""
    import numpy as np

    labels = config_labels(pipeline)
    oof: dict[str, list[tuple[int, np.ndarray, np.ndarray, list[int]]]] = {}
    selected = None
    for entry in result.predictions.iter_entries():
        name = str(entry["config_name"])
        fold = str(entry["fold_id"])
        if name.endswith("_refit"):
            if entry["partition"] == "test":
                selected = {
                    "config_name": name.removesuffix("_refit"),
                    "reported_rmsecv": float(entry["val_score"]),
                    "rmsep": float(entry["test_score"]),
                }
            continue
        if entry["partition"] != "val" or not fold.isdigit():
            continue  # "avg"/"w_avg" rows are fold-model ensembles, not out-of-fold rows
        oof.setdefault(name, []).append(
            (
                int(fold),
                np.asarray(entry["y_true"], dtype=float).ravel(),
                np.asarray(entry["y_pred"], dtype=float).ravel(),
                [int(i) for i in entry["sample_indices"]],
            )
        )
    configs = []
    folds = None
    for name, parts in oof.items():
        parts.sort(key=lambda p: p[0])
        y_true = np.concatenate([p[1] for p in parts])
        y_pred = np.concatenate([p[2] for p in parts])
        these = [sorted(p[3]) for p in parts]
        if folds is None:
            folds = these
        elif these != folds:
            folds = None  # configs disagree: no single fold assignment to report
            break
        configs.append(
            {
                "config_name": name,
                **labels.get(_hash(name), {"preprocessing": None, "n_components": None}),
                "n_folds": len(parts),
                "n_oof": int(y_true.size),
                "rmsecv": float(np.sqrt(np.mean((y_true - y_pred) ** 2))),
            }
        )
    if selected is not None:
        selected.update(labels.get(_hash(selected["config_name"]), {}))
    return {"configs": configs, "folds": folds, "selected": selected}


def _run_once(nirs4all, pipeline, dataset: str, workspace: Path):
    """One ``nirs4all.run`` of the sweep into ``workspace``; (result, seconds)."""
    with contextlib.redirect_stdout(sys.stderr):
        start = time.perf_counter()
        result = nirs4all.run(
            pipeline=pipeline,
            dataset=dataset,
            name="sweep",
            verbose=0,
            save_charts=False,
            workspace_path=str(workspace),
        )
        return result, time.perf_counter() - start


def _report(nirs4all, result, pipeline, import_s: float, run_s: list[float]) -> str:
    with contextlib.redirect_stdout(sys.stderr):
        summary = summarise(result, pipeline)
    return json.dumps(
        {
            "version": nirs4all.__version__,
            "engine": getattr(result, "execution_engine", None),
            "import_s": import_s,
            "run_s": run_s,
            "num_predictions": result.num_predictions,
            **summary,
        }
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="dataset folder (Xcal/Ycal/Xval/Yval files)")
    parser.add_argument("--workspace", required=True, help="folder for nirs4all's workspaces")
    parser.add_argument("--repeats", type=int, default=0, help="warm runs after the first (default 0)")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="after the import, read commands from stdin: 'run' (one run; prints its seconds), "
        "'report' (prints the JSON of the last run); end of input ends",
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        import nirs4all

        pipeline = build_pipeline()
    import_s = time.perf_counter() - start

    run_s: list[float] = []
    result = None
    if args.serve:
        print(json.dumps({"ready": True, "import_s": import_s}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "run":
                result, seconds = _run_once(
                    nirs4all, pipeline, args.dataset, Path(args.workspace) / f"run{len(run_s)}"
                )
                run_s.append(seconds)
                print(json.dumps({"run_s": seconds}), flush=True)
            elif command == "report" and result is not None:
                print(_report(nirs4all, result, pipeline, import_s, run_s), flush=True)
            else:
                print(json.dumps({"error": f"unknown command {command!r} (or no run yet)"}), flush=True)
        return 0

    for i in range(1 + args.repeats):
        result, seconds = _run_once(nirs4all, pipeline, args.dataset, Path(args.workspace) / f"run{i}")
        run_s.append(seconds)
    print(_report(nirs4all, result, pipeline, import_s, run_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
