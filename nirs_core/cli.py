"""The ``nirs`` command line.

    nirs demo [NAME] [--save DIR]        summary of a bundled demo dataset
    nirs info PATH [--target COL] …      load a dataset file or folder and print its summary
    nirs expand TEMPLATE [--count]       the pipeline configs a template expands to

Errors the user can fix (bad data, bad config) print one line that says what to fix and exit
with status 2; nothing else is caught.
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NirsError as exc:
        print(f"nirs {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
