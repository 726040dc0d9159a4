"""The ``nirs`` command line.

    nirs demo [NAME] [--save DIR]        summary of a bundled demo dataset
    nirs info PATH [--target COL] …      load a dataset file or folder and print its summary
    nirs expand TEMPLATE [--count]       the pipeline configs a template expands to
    nirs run TEMPLATE… --data PATH… [--workspace DIR] [--name NAME] [--json] [--strict]
                                         run templates × datasets into a workspace
    nirs resume RUN_ID [--workspace DIR] [--data-dir DIR…] [--json] [--retry-failed] [--strict]
                                         finish a paused, failed or killed run
    nirs workspace summary DIR [--json]  counts and best scores of a workspace
    nirs workspace rebuild-summaries DIR recompute the footer summary of every predictions file
    nirs train TEMPLATE --data PATH -o model.zip [--workspace DIR] [--ensemble]
                                         run a template, bundle the best config (by cv_score)
    nirs predict model.zip DATA -o preds.csv [--resample]
                                         predict spectra (a file or folder of any layout)
    nirs verify model.zip                check a bundle's signature and hashes
    nirs show model.zip                  a bundle's DAG and datasheet summary
    nirs keys generate [--out DIR]       a new Ed25519 key pair for signing bundles

Bundles are signed with an Ed25519 private key (--key-file or $NIRS_SIGNING_KEY_FILE, made by
`nirs keys generate`) and checked with its public key alone (--public-key or
$NIRS_VERIFY_KEY_FILE); old HMAC bundles are checked with $NIRS_BUNDLE_KEY or --key-file (see
nirs_core.store.signing).

Errors the user can fix (bad data, bad config) print one message that says what to fix and
exit with status 2; Ctrl-C during a run pauses it and exits with status 130; nothing else is
caught. A config that fails on a dataset is a failed result: the run completes, ``run`` and
``resume`` say on stderr how many failed and exit 0 (1 with ``--strict``). Progress bars go to stderr: with ``--json``, stdout holds exactly one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence

from nirs_core.errors import NirsError, is_disk_full

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from nirs_core.app.demo import DEMOS, load_demo

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
    failed = f", {run.n_failed} failed" if run.failures else ""
    print(f"run {run.run_id} ({run.name}): {run.status}, {len(run.results)}/{run.n_expected} results{failed}")
    print(f"workspace: {run.workspace.root}")
    if not run.results:
        return
    width = max(len(r["config_name"]) for r in run.results)
    print(f"\n{'dataset':<12} {'config':<{width}} {'metric':<8} {'cv_score':>12} {'test_score':>12}")
    for r in run.results:
        print(
            f"{r['dataset']:<12} {r['config_name']:<{width}} {r['metric']:<8} "
            f"{_score_text(r['cv_score']):>12} {_score_text(r['test_score']):>12}"
        )
    print()
    for dataset in run.datasets:
        if not any(r["dataset"] == dataset and r["cv_score"] is not None for r in run.results):
            # a template without a split step: nothing is cross-validated, so no best by cv_score
            print(f"best on {dataset}: none by cv_score (no result has one: the template has no split step)")
            continue
        best = run.best(dataset)
        test = "" if best["test_score"] is None else f", test {best['metric']} {best['test_score']:.6g}"
        print(f"best on {dataset}: {best['config_name']} (cv {best['metric']} {best['cv_score']:.6g}{test})")


def _report_failures(run, strict: bool) -> int:
    """Say on stderr how many results failed and why (the first few); the exit status: 1 when
    ``strict`` and some failed, else 0."""
    if not run.failures:
        return 0
    total = len(run.results) + run.n_failed
    print(
        f"{run.n_failed} of {total} results failed (recorded in the run; the others completed):",
        file=sys.stderr,
    )
    for f in run.failures[:5]:
        print(f"  {f['dataset']}/{f['config_name']}: {f['error_type']}: {f['error']}", file=sys.stderr)
    if run.n_failed > 5:
        print(f"  … and {run.n_failed - 5} more (see the run's manifests)", file=sys.stderr)
    if strict:
        print("--strict: exit status 1 because results failed.", file=sys.stderr)
        return 1
    print(
        f"retry them with: nirs resume {run.run_id} --workspace {run.workspace.root} --retry-failed",
        file=sys.stderr,
    )
    return 0


def _score_text(value: float | None) -> str:
    """A score for the results table: 6 significant digits, ``-`` when there is none."""
    return "-" if value is None else f"{value:.6g}"


def _cmd_run(args: argparse.Namespace) -> int:
    from nirs_core.app.run import run

    result = run(
        templates=list(args.templates),
        datasets=list(args.data),
        workspace=args.workspace,
        name=args.name,
        progress=not args.no_progress,
    )
    _print_run(result, args.json)
    return _report_failures(result, args.strict)


def _cmd_resume(args: argparse.Namespace) -> int:
    from nirs_core.app.run import resume

    result = resume(
        args.run_id,
        args.workspace,
        data_dirs=list(args.data_dir or ()),
        progress=not args.no_progress,
        retry_failed=args.retry_failed,
    )
    _print_run(result, args.json)
    return _report_failures(result, args.strict)


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


_RUNS_LISTED = 20  # the text summary lists the latest runs; --json lists every run


def _cmd_workspace_summary(args: argparse.Namespace) -> int:
    summary = _open_workspace(args.dir).summary()
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    runs, datasets = summary["runs"], summary["datasets"]
    by_status = ", ".join(f"{n} {s}" for s, n in runs["by_status"].items()) or "none"
    print(f"workspace {summary['root']}")
    print(f"  runs: {runs['total']} ({by_status})")
    listed = summary["run_list"][-_RUNS_LISTED:]
    if len(summary["run_list"]) > len(listed):
        print(f"    … {len(summary['run_list']) - len(listed)} earlier runs (all of them: --json)")
    for r in listed:
        tags = "".join(f"  {k}={v}" for k, v in sorted(r["tags"].items()))
        print(f"    {r['run_id']}  {r['status']:<9}  {r['results']} results  {r['name']}{tags}")
    print(f"  datasets: {datasets['total']} registered")
    failed = summary.get("failed_results", 0)
    print(f"  results: {summary['results']}" + (f" ({failed} failed)" if failed else ""))
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


# ----------------------------------------------------------------------------- bundles
# Kept light: predict/verify/show import the bundle reader and numpy replay only (no
# scikit-learn, no polars for a plain CSV), so a cold `nirs predict` starts fast.


def _bundle_options(args: argparse.Namespace) -> dict:
    options = {
        "key_file": args.key_file,
        "public_key": args.public_key,
        "trust_unsigned": args.trust_unsigned,
    }
    if hasattr(args, "allow_pickle"):
        options["allow_pickle"] = args.allow_pickle
    return options


def _cmd_keys_generate(args: argparse.Namespace) -> int:
    from nirs_core.store.signing import DEFAULT_SIGNING_KEY, generate_keys, key_id, resolve_signer

    out = args.out if args.out is not None else DEFAULT_SIGNING_KEY.expanduser().parent
    private, public = generate_keys(out, force=args.force)
    signer = resolve_signer(key_file=private)
    print(f"private key {private} (mode 0600; signs bundles: --key-file or $NIRS_SIGNING_KEY_FILE)")
    print(
        f"public key  {public} (checks them: --public-key or $NIRS_VERIFY_KEY_FILE); key id {key_id(signer.key)}"
    )
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from nirs_core.app.train import train_bundle

    out = train_bundle(
        args.template,
        args.data,
        args.output,
        workspace=args.workspace,
        key_file=args.key_file,
        sign=not args.unsigned,
        fits="ensemble" if args.ensemble else "refit",
        progress=not args.no_progress,
    )
    best = out["best"]
    print(
        f"best of {out['n_configs']} config(s) by cv_score: {best['config_name']} "
        f"({best['metric']} cv {best['cv_score']:.6g}, test "
        f"{'—' if best['test_score'] is None else format(best['test_score'], '.6g')})"
    )
    where = f" (workspace {out['workspace']}, run {out['run_id']})" if out["workspace"] else ""
    print(f"bundle written to {out['bundle']}{where}")
    return 0


def _format_cell(value) -> str:
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    return str(value)


def _cmd_predict(args: argparse.Namespace) -> int:
    import csv
    import io

    from nirs_core.graph.replay import prepare_input, replay_table
    from nirs_core.store._atomic import atomic_write_text
    from nirs_core.store.bundle import open_bundle

    try:
        bundle = open_bundle(args.bundle, **_bundle_options(args))
    except FileNotFoundError as exc:
        print(f"nirs predict: error: {exc}", file=sys.stderr)
        return 2
    prepared = prepare_input(bundle, args.data, resample=args.resample)
    columns = replay_table(bundle, prepared.sources, coverage=args.coverage)
    targets = bundle.targets or ["y"]
    header = ([prepared.sample_column] if prepared.sample is not None else []) + list(columns)
    arrays = [columns[name].tolist() for name in columns]
    n = len(arrays[0])
    ids = prepared.sample.tolist() if prepared.sample is not None else None  # str, int or float each
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    for i in range(n):
        writer.writerow(([_format_cell(ids[i])] if ids is not None else []) + [_format_cell(a[i]) for a in arrays])
    if args.output == "-":
        sys.stdout.write(text.getvalue())
    else:  # the whole file or nothing: a failure leaves the previous output as it was
        atomic_write_text(args.output, text.getvalue())
    if args.output != "-":
        note = " (resampled onto the training axis)" if prepared.resampled else ""
        outside = int(n - sum(columns["in_domain"].tolist()))
        print(
            f"{n} prediction(s) of {', '.join(targets)} written to {args.output}{note}; "
            f"{outside} outside the model's domain (in_domain false)"
        )
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from nirs_core.store.bundle import verify_bundle

    try:
        summary = verify_bundle(args.bundle, **_bundle_options(args))
    except FileNotFoundError as exc:
        print(f"nirs verify: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=1, default=str))
        return 0
    signature = {
        "valid": f"valid (key id {summary['key_id']})",
        "missing": "none (accepted: --trust-unsigned)",
        "unchecked": "present but not checked: no key (accepted: --trust-unsigned)",
    }[summary["signature"]]
    print(f"{summary['path']}: intact")
    print(f"  signature   {signature}")
    print(f"  members     {summary['members']}, every sha256 matches the manifest")
    print(f"  artefacts   {summary['artifacts']} ({summary['pickled_artifacts']} pickled)")
    print(f"  model       {summary['config']} on {summary['dataset']}, {summary['nodes']} nodes")
    print(f"  fits        {summary['fits']['mode']}: {', '.join(summary['fits']['names'])}")
    print(f"  targets     {', '.join(summary['targets'])} ({summary['task']})")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from nirs_core.store.bundle import open_bundle

    try:
        bundle = open_bundle(args.bundle, **_bundle_options(args))
    except FileNotFoundError as exc:
        print(f"nirs show: error: {exc}", file=sys.stderr)
        return 2
    info = bundle.info
    if args.json:
        print(json.dumps(_show_json(bundle), indent=1, default=str))
        return 0
    print(
        f"{bundle.path}  ({info.get('config_name')} on {info.get('dataset')}, signature {bundle.signature})"
    )
    print(
        f"fits: {bundle.fit_mode} ({', '.join(bundle.fits)}); targets: {', '.join(bundle.targets)} ({bundle.task})"
    )
    spec = bundle.input
    for k, src in enumerate(spec["sources"]):
        axis = src.get("wavelengths")
        span = f"{axis[0]:g}–{axis[-1]:g} {src.get('unit') or ''}" if axis else "no axis"
        print(f"input {k}: {src.get('name')}, {src['n_features']} features, {span}, {src.get('dtype')}")
    rows = [("node", "kind", "parents", "class / kernel", "artefact")]
    for node in bundle.graph.topological_order():
        what = node.class_path or node.kernel or ""
        files = sorted(set(node.artifacts.values()))
        artefact = (
            (files[0][:12] + "…" + files[0].rsplit(".", 1)[-1])
            if len(files) == 1
            else f"{len(files)} files"
            if files
            else ""
        )
        rows.append((node.id, node.kind, ", ".join(node.parents) or "—", what, artefact))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    print()
    for i, row in enumerate(rows):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    sheet = bundle.datasheet()
    if sheet:
        metrics, ds, lineage = sheet["metrics"], sheet["dataset"], sheet["lineage"]
        print()
        print(f"dataset   {ds.get('name')} sha256 {ds.get('sha256')}, n_samples {ds.get('n_samples')}")
        if ds.get("wavelength_range"):
            lo, hi = ds["wavelength_range"]
            print(f"          wavelengths {lo:g}–{hi:g} {ds.get('wavelength_unit') or ''}")
        cv, test = metrics.get("cv_score"), metrics.get("test_score")
        print(
            f"metrics   {metrics.get('metric')}: cv {'—' if cv is None else format(cv, '.6g')}, "
            f"test {'—' if test is None else format(test, '.6g')}"
        )
        print(
            f"lineage   graph {lineage.get('graph_structure_hash')}, dataset {lineage.get('dataset_content_hash')}"
        )
        print(f"created   {sheet.get('created_at')}; plots: {', '.join(sheet.get('plots') or []) or 'none'}")
    _print_validation(info)
    return 0


def _print_validation(info: dict) -> None:
    """The ISO 12099 statistics and the domain limits of ``nirs show``."""
    validation, domain = info.get("validation") or {}, info.get("domain") or {}
    names = {"calibration": "rmsec", "cv": "rmsecv", "test": "rmsep"}
    for kind, rmse in names.items():
        v = validation.get(kind)
        if not v or rmse not in v:
            continue
        verdicts = ", ".join(f"{t} {r['verdict']}" for t, r in v["tests"].items())
        print(
            f"{kind:<12}{rmse} {v[rmse]:.4g}, bias {v['bias']:.3g}, SEP {v['sep']:.4g}, slope {v['slope']:.3g}, "
            f"R² {v['r2']:.3f}, RPD {v['rpd']:.2f}, RPIQ {v['rpiq']:.2f}, n {v['n']} ({verdicts})"
        )
    if domain:
        print(
            f"domain      {domain.get('scores')}: T² limit {domain['t2_limit']:.4g}, Q limit "
            f"{domain['q_limit']:.4g}, leverage limit {domain['leverage_limit']:.3g}"
        )


def _show_json(bundle) -> dict:
    """What ``nirs show --json`` prints: the bundle's metadata, its input, its validation
    statistics (``calibration``, ``cv``, ``test``) and applicability domain."""
    info = dict(bundle.info)
    validation = info.get("validation") or {}
    return {
        **info,
        "path": str(bundle.path),
        "signature": bundle.signature,
        "input": {k: v for k, v in bundle.input.items() if k != "sources"}
        | {"sources": [{k: v for k, v in s.items() if k != "wavelengths"} for s in bundle.input["sources"]]},
        "validation": {k: validation.get(k) for k in ("calibration", "cv", "test")}
        | ({"per_target": validation["per_target"]} if "per_target" in validation else {}),
        "domain": info.get("domain"),
        "nodes": [
            {"id": n.id, "kind": n.kind, "class": n.class_path, "kernel": n.kernel}
            for n in bundle.graph.nodes
        ],
    }


def _cmd_monitor(args: argparse.Namespace) -> int:
    from nirs_core.app.monitor import monitor

    out = monitor(
        args.bundle,
        args.reference,
        history=args.history,
        png=args.png,
        target=args.target,
        run_length=args.run_length,
        **_bundle_options(args),
    )
    chart = out["chart"]
    if args.json:
        print(json.dumps(out, indent=1, default=str))
    else:
        print(
            f"{out['added']} reference sample(s) added; the chart has {chart['n']} point(s), "
            f"mean reference − NIR {chart['mean_difference']:.4g} (SEP {chart['sep']:.4g}: warning ±"
            f"{chart['warning_limits'][1]:.4g}, action ±{chart['action_limits'][1]:.4g})"
        )
        for rule, name in (
            ("beyond_action", "beyond an action limit"),
            ("two_of_three_beyond_warning", "2 of 3 beyond a warning limit"),
            ("run_on_one_side", f"{chart['run_length']} in a row on one side"),
        ):
            if chart[rule]:
                print(f"  {name}: point(s) {', '.join(str(i + 1) for i in chart[rule])}")
        print(f"verdict: {chart['verdict']}; chart {out['png']}, history {out['history']}")
    return 0 if chart["verdict"] != "out of control" else 1


def _cmd_transfer(args: argparse.Namespace) -> int:
    from nirs_core.app.transfer import transfer_bundle
    from nirs_core.graph.replay import prepare_input
    from nirs_core.store.bundle import open_bundle

    bundle = open_bundle(args.bundle, **_bundle_options(args))
    slave = prepare_input(bundle, args.slave).sources[0]
    master = prepare_input(bundle, args.master).sources[0]
    params = {"half_width": args.half_width} if args.method == "PDS" else {"rank": args.rank}
    path = transfer_bundle(
        bundle,
        slave,
        master,
        args.output,
        method=args.method,
        params=params,
        key_file=args.key_file,
        sign=not args.unsigned,
    )
    print(f"{args.method} fitted on {slave.shape[0]} transfer sample(s); bundle written to {path}")
    return 0


def _add_key_options(parser: argparse.ArgumentParser, *, verify: bool = True) -> None:
    parser.add_argument(
        "--key-file",
        metavar="FILE",
        help="signing key: an Ed25519 private key from `nirs keys generate` (default: "
        "$NIRS_SIGNING_KEY_FILE, ~/.config/nirs/signing.key), or a legacy HMAC key file",
    )
    if verify:
        parser.add_argument(
            "--public-key",
            metavar="FILE",
            help="Ed25519 public key that checks the signature (default: $NIRS_VERIFY_KEY_FILE, "
            "~/.config/nirs/signing.pub)",
        )


def _add_trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-unsigned",
        action="store_true",
        help="accept a bundle without a signature (or without a key to check it); hashes are still "
        "checked, and pickled estimators are still refused (see --allow-pickle)",
    )


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
    run.add_argument("--strict", action="store_true", help="exit with status 1 when any result failed")
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
    resume.add_argument(
        "--retry-failed", action="store_true", help="compute the failed results again (default: keep them)"
    )
    resume.add_argument("--strict", action="store_true", help="exit with status 1 when any result failed")
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

    train = sub.add_parser("train", help="run a template and bundle the best config (by cv_score)")
    train.add_argument("template")
    train.add_argument("--data", required=True, metavar="PATH", help="dataset file or folder")
    train.add_argument("-o", "--output", required=True, metavar="BUNDLE", help="bundle file to write (.zip)")
    train.add_argument(
        "--workspace", metavar="DIR", help="keep the run in this workspace (default: temporary)"
    )
    train.add_argument(
        "--ensemble",
        action="store_true",
        help="replay the mean of the fold models instead of the refit model",
    )
    train.add_argument("--unsigned", action="store_true", help="write an unsigned bundle")
    train.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_key_options(train, verify=False)
    train.set_defaults(func=_cmd_train)

    predict = sub.add_parser("predict", help="predict spectra with a bundle")
    predict.add_argument("bundle")
    predict.add_argument("data", help="a spectra file or folder (any layout the loaders read)")
    predict.add_argument(
        "-o", "--output", default="-", metavar="CSV", help="predictions CSV (default: stdout)"
    )
    predict.add_argument(
        "--resample", action="store_true", help="interpolate spectra onto the training axis when it differs"
    )
    predict.add_argument(
        "--coverage", type=float, metavar="P", help="coverage of the prediction interval (default: 0.9)"
    )
    _add_key_options(predict)
    _add_trust_option(predict)
    predict.add_argument(
        "--allow-pickle",
        action="store_true",
        help="unpickle the third-party estimators of a bundle (signed or not): THIS RUNS CODE FROM THE "
        "FILE; only for a bundle from someone you trust. Without it, pickled nodes are refused",
    )
    predict.set_defaults(func=_cmd_predict)

    verify = sub.add_parser("verify", help="check a bundle's signature and the hash of every member")
    verify.add_argument("bundle")
    verify.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_key_options(verify)
    _add_trust_option(verify)
    verify.set_defaults(func=_cmd_verify)

    show = sub.add_parser("show", help="a bundle's DAG and datasheet summary")
    show.add_argument("bundle")
    show.add_argument(
        "--json", action="store_true", help="print the metadata, validation statistics and domain as JSON"
    )
    _add_key_options(show)
    _add_trust_option(show)
    show.set_defaults(func=_cmd_show)

    keys = sub.add_parser("keys", help="signing keys for bundles")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    generate = keys_sub.add_parser("generate", help="write a new Ed25519 key pair (signing.key, signing.pub)")
    generate.add_argument("--out", metavar="DIR", help="folder for the keys (default: ~/.config/nirs)")
    generate.add_argument("--force", action="store_true", help="replace keys already in the folder")
    generate.set_defaults(func=_cmd_keys_generate)

    mon = sub.add_parser(
        "monitor",
        help="predict new reference samples and add them to the bundle's control chart (ISO 12099 §11); "
        "exit 1 when the chart is out of control",
    )
    mon.add_argument("bundle")
    mon.add_argument(
        "reference", help="reference samples: spectra and laboratory values (any layout the loaders read)"
    )
    mon.add_argument("--target", help="laboratory value column (default: the bundle's target)")
    mon.add_argument(
        "--history", metavar="CSV", help="the chart's points, appended to (default: BUNDLE with .monitor.csv)"
    )
    mon.add_argument("--png", metavar="PNG", help="the chart (default: the history with .png)")
    mon.add_argument(
        "--run-length", type=int, default=9, help="points in a row on one side that fail (default 9)"
    )
    mon.add_argument("--json", action="store_true", help="print the chart's evaluation as JSON")
    _add_key_options(mon)
    _add_trust_option(mon)
    mon.set_defaults(func=_cmd_monitor)

    transfer = sub.add_parser(
        "transfer", help="put a calibration transfer (PDS or DS) for a second instrument in front of a bundle"
    )
    transfer.add_argument("bundle")
    transfer.add_argument(
        "--slave", required=True, metavar="PATH", help="transfer samples on the new instrument"
    )
    transfer.add_argument(
        "--master",
        required=True,
        metavar="PATH",
        help="the same samples on the bundle's instrument (same order)",
    )
    transfer.add_argument(
        "-o", "--output", required=True, metavar="BUNDLE", help="the transferred bundle (.zip)"
    )
    transfer.add_argument("--method", choices=["PDS", "DS"], default="PDS")
    transfer.add_argument("--half-width", type=int, default=2, help="PDS window half-width (default 2)")
    transfer.add_argument("--rank", type=int, help="DS rank (default: full)")
    transfer.add_argument("--unsigned", action="store_true", help="write an unsigned bundle")
    _add_key_options(transfer)
    _add_trust_option(transfer)
    transfer.set_defaults(func=_cmd_transfer)
    return parser


def _interrupt_on_sigterm() -> None:
    """``kill`` (SIGTERM) stops a command as Ctrl-C does: temporary files and scratch folders
    are removed on the way out, a run is marked paused."""
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
    if argv is None:  # the `nirs` program itself (not a test calling main)
        _interrupt_on_sigterm()
    try:
        return args.func(args)
    except NirsError as exc:
        notes = "".join(f"\n{note}" for note in getattr(exc, "__notes__", ()))
        print(f"nirs {command}: error: {exc}{notes}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`nirs predict ... | head`): nothing more to say to it
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        print(
            f"nirs {command}: error: {exc.filename or 'a file'}: no space left on the device; nothing "
            "was half-written (the previous file, if any, is as it was). Free some space and run the "
            "command again.",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as exc:
        from nirs_core.app.run import RunPaused

        if not isinstance(exc, RunPaused) or (args.command == "train" and args.workspace is None):
            print(f"nirs {command}: interrupted; nothing was half-written.", file=sys.stderr)
            return 130
        print(
            f"nirs {command}: interrupted; run {exc.run_id} is paused. Resume it with: "
            f"nirs resume {exc.run_id} --workspace {exc.workspace}",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
