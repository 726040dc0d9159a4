"""The ``nirs models`` and ``nirs serve`` commands: the model registry of a workspace and the
prediction service. :func:`add_parsers` adds their sub-commands to the ``nirs`` parser
(:mod:`nirs_core.cli`, which hands over its key and trust options so that every command spells
them alike); the work is done by :mod:`nirs_core.app.models` and :func:`nirs_core.serve.serve`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

__all__ = ["add_parsers"]


def add_parsers(sub, *, add_key_options: Callable, add_trust_option: Callable) -> None:
    """Add ``models list|history|promote|rollback`` and ``serve`` to the sub-parsers ``sub``."""
    _add_models_parsers(sub)
    _add_serve_parser(sub, add_key_options, add_trust_option)


def _cmd_models_list(args: argparse.Namespace) -> int:
    from nirs_core.store.models import ModelRegistry

    registry = ModelRegistry(args.workspace)
    rows = []
    for name in registry.names():
        record = registry.read(name)
        rows += [
            {
                "name": name,
                "version": v.version,
                "aliases": record.aliases_of(v.version),
                "path": v.path,
                "sha256": v.sha256,
                "created_at": v.created_at,
                "scores": {"metric": v.metric, **v.scores},
            }
            for v in record.versions
        ]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print(f"no models registered in {registry.models_dir}")
    for r in rows:
        cv, test = r["scores"].get("cv"), r["scores"].get("test")
        print(
            f"{r['name']} v{r['version']:<3} {','.join(r['aliases']) or '-':<12} {r['created_at']}  "
            f"{r['scores']['metric']} cv {'-' if cv is None else format(cv, '.6g')} "
            f"test {'-' if test is None else format(test, '.6g')}  {r['sha256'][:12]}"
        )
    return 0


def _cmd_models_history(args: argparse.Namespace) -> int:
    from nirs_core.store.models import ModelRegistry

    record = ModelRegistry(args.workspace).read(args.name)
    if args.json:
        print(json.dumps([h.to_dict() for h in record.history], indent=1))
        return 0
    if not record.history:
        print(f"{args.name}: no promotion or rollback yet")
    for h in record.history:
        source = "-" if h.from_version is None else f"v{h.from_version}"
        forced = " (forced)" if h.forced else ""
        print(f"{h.at}  {h.by}  {h.action} {h.alias}: {source} -> v{h.to_version}{forced}  {h.reason}")
    return 0


def _cmd_models_promote(args: argparse.Namespace) -> int:
    from nirs_core.app.models import promote

    entry = promote(
        args.workspace, args.name, args.version, alias=args.alias, force=args.force, reason=args.reason or ""
    )
    source = "nothing" if entry.from_version is None else f"v{entry.from_version}"
    print(f"{args.name} {entry.alias}: {source} -> v{entry.to_version} ({entry.reason})")
    return 0


def _cmd_models_rollback(args: argparse.Namespace) -> int:
    from nirs_core.app.models import rollback

    entry = rollback(args.workspace, args.name, alias=args.alias, reason=args.reason or "")
    print(f"{args.name} {entry.alias}: v{entry.from_version} -> v{entry.to_version} (rollback)")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from nirs_core.serve import serve

    return serve(
        workspace=args.workspace,
        model=args.model,
        alias=args.alias,
        host=args.host,
        port=args.port,
        key_file=args.key_file,
        public_key=args.public_key,
        trust_unsigned=args.trust_unsigned,
        allow_pickle=args.allow_pickle,
        usage_log=args.usage_log,
        max_body_bytes=args.max_body_bytes,
        max_spectra=args.max_spectra,
    )


def _add_models_parsers(sub) -> None:
    models = sub.add_parser("models", help="the model registry of a workspace: versions and aliases")
    models_sub = models.add_subparsers(dest="action", required=True)
    listing = models_sub.add_parser("list", help="every version of every model")
    listing.add_argument("workspace")
    listing.add_argument("--json", action="store_true", help="one JSON object per version, in a list")
    listing.set_defaults(func=_cmd_models_list)
    history = models_sub.add_parser("history", help="every promotion and rollback of a model")
    history.add_argument("workspace")
    history.add_argument("name")
    history.add_argument("--json", action="store_true", help="print the history as JSON")
    history.set_defaults(func=_cmd_models_history)
    promote = models_sub.add_parser(
        "promote", help="point an alias at a version (under the promotion policy)"
    )
    promote.add_argument("workspace")
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    promote.add_argument("--alias", default="champion")
    promote.add_argument(
        "--force", action="store_true", help="promote even when the policy refuses (needs --reason)"
    )
    promote.add_argument("--reason", help="why (recorded in the history)")
    promote.set_defaults(func=_cmd_models_promote)
    rollback = models_sub.add_parser("rollback", help="point an alias back at its previous holder")
    rollback.add_argument("workspace")
    rollback.add_argument("name")
    rollback.add_argument("--alias", default="champion")
    rollback.add_argument("--reason", help="why (recorded in the history)")
    rollback.set_defaults(func=_cmd_models_rollback)


def _add_serve_parser(sub, add_key_options: Callable, add_trust_option: Callable) -> None:
    serve = sub.add_parser(
        "serve",
        help="HTTP prediction service (pip install '.[serve]'): a registered model's alias, or $MODEL_PATH",
        description=(
            "Serve predictions over HTTP: the version an alias of a registered model points to "
            "(followed through promotions and rollbacks), or the bundle file $MODEL_PATH. Admin "
            "routes (promote, rollback, train jobs) need 'Authorization: Bearer $NIRS_ADMIN_TOKEN' "
            "and are off when it is unset. Routes and errors: docs/serving.md."
        ),
    )
    serve.add_argument("--workspace", metavar="DIR", help="workspace whose model registry to serve from")
    serve.add_argument("--model", metavar="NAME", help="registered model name")
    serve.add_argument("--alias", default="champion", help="alias to serve and follow (default: champion)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--usage-log", metavar="FILE", help="usage log (default: <workspace>/logs/usage.jsonl, or none)"
    )
    serve.add_argument(
        "--max-body-bytes", type=int, default=16 << 20, help="largest request body (413 beyond)"
    )
    serve.add_argument(
        "--max-spectra", type=int, default=10_000, help="most spectra per request (413 beyond)"
    )
    add_key_options(serve)
    add_trust_option(serve)
    serve.add_argument(
        "--allow-pickle",
        action="store_true",
        help="serve bundles with third-party estimators (unpickled: THIS RUNS CODE FROM THE FILE; only "
        "for a registry you trust). Without it, a version with pickled nodes is not loaded",
    )
    serve.set_defaults(func=_cmd_serve)
