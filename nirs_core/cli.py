"""The ``nirs`` command line.

    nirs demo [NAME] [--save DIR]        summary of a bundled demo dataset
    nirs info PATH [--target COL] …      load a dataset file or folder and print its summary
    nirs expand TEMPLATE [--count]       the pipeline configs a template expands to
    nirs run TEMPLATE… --data PATH… [--workspace DIR] [--name NAME] [--json]
                                         run templates × datasets into a workspace
    nirs resume RUN_ID [--workspace DIR] [--data-dir DIR…] [--json]
                                         finish a paused, failed or killed run
    nirs workspace summary DIR [--json]  counts and best scores of a workspace
    nirs workspace rebuild-summaries DIR recompute the footer summary of every predictions file

Errors the user can fix (bad data, bad config) print one message that says what to fix and
exit with status 2; Ctrl-C during a run pauses it and exits with status 130; nothing else is
caught. Progress bars go to stderr: with ``--json``, stdout holds exactly one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from nirs_core.errors import NirsError

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from nirs_core.demo import DEMOS, load_demo

    ds = load_demo(args.name)
    ds.print_summary()
    if args.save:
        out = ds.save(args.save)
        print(f"saved to {out}")
    others = ", ".join(n for n in DEMOS if n != args.name)
    print(f"\nother demo datasets: {others}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from nirs_core.data import load

    options = {
        key: value
        for key, value in {
            "layout": args.layout,
            "target": args.target,
            "group": args.group,
            "unit": args.unit,
        }.items()
        if value is not None
    }
    ds = load(args.path, **options)
    if args.json:
        print(json.dumps(ds.get_metadata(), indent=1, default=str))
    else:
        ds.print_summary()
    return 0


def _cmd_expand(args: argparse.Namespace) -> int:
    from nirs_core.pipeline.generators import count, expand, load_template

    loaded = load_template(args.template)
    if args.count:
        print(count(loaded))
        return 0
    for config in expand(loaded):
        print(json.dumps({"id": config.id, "name": config.name, "choices": config.choices}, default=str))
    return 0


def _print_run(run, as_json: bool) -> None:
    if as_json:
        print(json.dumps(run.to_dict(), allow_nan=False))
        return
    print(f"run {run.run_id} ({run.name}): {run.status}, {len(run.results)}/{run.n_expected} results")
    print(f"workspace: {run.workspace.root}")
    if not run.results:
        return
    width = max(len(r["config_name"]) for r in run.results)
    print(f"\n{'dataset':<12} {'config':<{width}} {'metric':<8} {'cv_score':>12} {'test_score':>12}")
    for r in run.results:
        test = "-" if r["test_score"] is None else f"{r['test_score']:.6g}"
        print(
            f"{r['dataset']:<12} {r['config_name']:<{width}} {r['metric']:<8} {r['cv_score']:>12.6g} {test:>12}"
        )
    print()
    for dataset in run.datasets:
        best = run.best(dataset)
        test = "" if best["test_score"] is None else f", test {best['metric']} {best['test_score']:.6g}"
        print(f"best on {dataset}: {best['config_name']} (cv {best['metric']} {best['cv_score']:.6g}{test})")


def _cmd_run(args: argparse.Namespace) -> int:
    from nirs_core.pipeline.run import run

    result = run(
        templates=list(args.templates),
        datasets=list(args.data),
        workspace=args.workspace,
        name=args.name,
        progress=not args.no_progress,
    )
    _print_run(result, args.json)
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    from nirs_core.pipeline.run import resume

    result = resume(
        args.run_id, args.workspace, data_dirs=list(args.data_dir or ()), progress=not args.no_progress
    )
    _print_run(result, args.json)
    return 0


def _open_workspace(path: str):
    from pathlib import Path

    from nirs_core.errors import ConfigError
    from nirs_core.store.workspace import Workspace

    root = Path(path)
    if not (root / "runs").is_dir():
        raise ConfigError(
            f"{root}: not a workspace (no runs/ folder); expected a folder written by `nirs run`."
        )
    return Workspace(root)


def _cmd_workspace_summary(args: argparse.Namespace) -> int:
    summary = _open_workspace(args.dir).summary()
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    runs, datasets = summary["runs"], summary["datasets"]
    by_status = ", ".join(f"{n} {s}" for s, n in runs["by_status"].items()) or "none"
    print(f"workspace {summary['root']}")
    print(f"  runs: {runs['total']} ({by_status})")
    print(f"  datasets: {datasets['total']} registered")
    print(f"  results: {summary['results']}")
    print(f"  artifacts: {summary['artifacts']['count']} files, {summary['artifacts']['bytes']} bytes")
    for name, info in summary["predictions"].items():
        print(f"  predictions/{name}.parquet: {info['rows']} rows, {info['configs']} configs")
        for metric, per_partition in info["best"].items():
            for partition, entry in per_partition.items():
                print(
                    f"    best {metric} ({partition}): {entry['score']:.6g}  {entry['config_name']}"
                    f"  run {entry['run_id']}"
                )
    return 0


def _cmd_workspace_rebuild(args: argparse.Namespace) -> int:
    summaries = _open_workspace(args.dir).rebuild_summaries()
    if args.json:
        print(json.dumps(summaries, indent=1))
        return 0
    if not summaries:
        print("no predictions files to rebuild")
    for name, summary in summaries.items():
        print(
            f"predictions/{name}.parquet: summary rebuilt from {summary['n_rows']} rows, "
            f"{len(summary['configs'])} configs"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nirs", description="NIR spectroscopy calibration engine.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo", help="summary of a bundled demo dataset (real spectra shipped by chemotools)"
    )
    demo.add_argument("name", nargs="?", default="fermentation")
    demo.add_argument("--save", help="also save it as a SpectroDataset folder")
    demo.set_defaults(func=_cmd_demo)

    info = sub.add_parser("info", help="load a dataset file or folder and print its summary")
    info.add_argument("path")
    info.add_argument(
        "--layout", help="force a layout: cal_val, train_test, single_file, multi_source, parquet"
    )
    info.add_argument("--target", help="target column (single-file and parquet layouts)")
    info.add_argument("--group", help="group column")
    info.add_argument("--unit", help="axis unit: nm, cm-1 or index (overrides the inference)")
    info.add_argument("--json", action="store_true", help="print the dataset metadata as JSON")
    info.set_defaults(func=_cmd_info)

    expand = sub.add_parser("expand", help="list the pipeline configs a template expands to")
    expand.add_argument("template")
    expand.add_argument("--count", action="store_true", help="print only how many configs")
    expand.set_defaults(func=_cmd_expand)

    run = sub.add_parser("run", help="run templates × datasets into a workspace")
    run.add_argument("templates", nargs="+", metavar="TEMPLATE", help="template files (.yaml, .yml, .json)")
    run.add_argument(
        "--data", action="append", required=True, metavar="PATH", help="dataset file or folder (repeatable)"
    )
    run.add_argument("--workspace", default=".", metavar="DIR", help="workspace folder (default: .)")
    run.add_argument("--name", help="a name for the run (default: the templates' names)")
    run.add_argument("--json", action="store_true", help="print the run and its results as one JSON object")
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    run.set_defaults(func=_cmd_run)

    resume = sub.add_parser("resume", help="finish a paused, failed or killed run")
    resume.add_argument("run_id")
    resume.add_argument("--workspace", default=".", metavar="DIR", help="workspace folder (default: .)")
    resume.add_argument(
        "--data-dir",
        action="append",
        metavar="DIR",
        help="where to look for datasets that moved (repeatable)",
    )
    resume.add_argument(
        "--json", action="store_true", help="print the run and its results as one JSON object"
    )
    resume.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    resume.set_defaults(func=_cmd_resume)

    workspace = sub.add_parser("workspace", help="inspect and maintain a workspace")
    workspace_sub = workspace.add_subparsers(dest="action", required=True)
    summary = workspace_sub.add_parser("summary", help="counts and best scores (reads footers only)")
    summary.add_argument("dir")
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.set_defaults(func=_cmd_workspace_summary)
    rebuild = workspace_sub.add_parser(
        "rebuild-summaries", help="recompute the footer summary of every predictions file"
    )
    rebuild.add_argument("dir")
    rebuild.add_argument("--json", action="store_true", help="print the summaries as JSON")
    rebuild.set_defaults(func=_cmd_workspace_rebuild)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
    try:
        return args.func(args)
    except NirsError as exc:
        notes = "".join(f"\n{note}" for note in getattr(exc, "__notes__", ()))
        print(f"nirs {command}: error: {exc}{notes}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        from nirs_core.pipeline.run import RunPaused

        if not isinstance(exc, RunPaused):
            raise
        print(
            f"nirs {command}: interrupted; run {exc.run_id} is paused. Resume it with: "
            f"nirs resume {exc.run_id} --workspace {exc.workspace}",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
