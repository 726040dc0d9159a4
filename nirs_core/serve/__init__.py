"""The HTTP prediction service (``nirs serve``; FastAPI and uvicorn, the ``serve`` extra).

It loads the version an alias of a registered model points to (or the bundle ``$MODEL_PATH``),
verifies and warms it up before it listens, follows promotions and rollbacks without a
restart, and answers ``/predict`` from the same replay as ``nirs predict``. The routes are in
:mod:`nirs_core.serve.app`; how the model is held and reloaded in :mod:`~nirs_core.serve._holder`.
FastAPI and uvicorn are imported here only, never by the rest of the engine; importing this
package imports neither (nor the engine), so `nirs` starts as fast with it as without.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nirs_core.errors import ConfigError

__all__ = ["MODEL_PATH_ENV", "serve"]

MODEL_PATH_ENV = "MODEL_PATH"


def serve(
    *,
    workspace: str | os.PathLike[str] | None = None,
    model: str | None = None,
    alias: str = "champion",
    host: str = "127.0.0.1",
    port: int = 8000,
    key_file: str | os.PathLike[str] | None = None,
    public_key: str | os.PathLike[str] | None = None,
    trust_unsigned: bool = False,
    allow_pickle: bool = False,
    usage_log: str | os.PathLike[str] | None = None,
    max_body_bytes: int = 16 << 20,
    max_spectra: int = 10_000,
) -> int:
    """Load the model, then serve it with uvicorn until interrupted; returns the exit status."""
    try:
        import uvicorn

        from nirs_core.serve._holder import ModelHolder
        from nirs_core.serve.app import Limits, create_app
    except ImportError as exc:
        raise ConfigError(
            f"nirs serve: the service needs the `serve` extra (pip install 'nirs-dagster[serve]'); {exc}."
        ) from None
    model_path = os.environ.get(MODEL_PATH_ENV) or None
    holder = ModelHolder(
        workspace=workspace,
        model=model,
        alias=alias,
        model_path=model_path,
        key_file=key_file,
        public_key=public_key,
        trust_unsigned=trust_unsigned,
        allow_pickle=allow_pickle,
    )
    loaded = holder.load()
    if usage_log is None and workspace is not None:
        usage_log = Path(workspace) / "logs" / "usage.jsonl"
    app = create_app(holder, usage_log=usage_log, limits=Limits(max_body_bytes, max_spectra))
    where = f"version {loaded.version} ({alias})" if loaded.version is not None else str(model_path)
    print(
        f"nirs serve: {loaded.name} {where}, sha256 {loaded.sha256[:12]}…, on http://{host}:{port}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0
