"""The one resource every asset, sensor and schedule uses: where the datasets, the templates and
the engine's workspace live.

Each root is a field of :class:`NirsResource`; an empty field falls back to the environment
(``NIRS_DATA_DIR``, ``NIRS_TEMPLATES_DIR``, ``NIRS_WORKSPACE``) and then to a default:

- datasets: the bundled demo data, written on first use as ordinary data files under
  ``<workspace>/demo_data/`` (so the sensor sees them exactly as it sees a user's folder);
- templates: the project's ``examples/`` folder; with the demo data (no data folder given),
  ``nirs_dagster/demo_templates/``, whose sweep suits the demo's 21 calibration spectra (the
  examples' PLS sizes up to 20 exceed what a 5-fold split of 21 samples can fit);
- workspace: ``./nirs_workspace``;
- the engine's sweeps inside a run: in the run's process, or on a Dask cluster when
  ``dask_address`` (``$NIRS_DASK_ADDRESS``) names one (``tcp://host:port``, or ``local`` for a
  ``LocalCluster`` sized to the machine, started and stopped by the run): the groups of the
  run's configs become tasks on the workers and the scores are the same
  (:mod:`nirs_core.app.executors`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from nirs_core.store._atomic import atomic_path, atomic_write_text

__all__ = ["DEMO_DATASETS", "NirsResource", "write_demo_data"]

_REPO = Path(__file__).resolve().parents[1]
_DEMO_TEMPLATES = Path(__file__).resolve().parent / "demo_templates"

#: The demo datasets written into the default data folder. ``coffee`` (the other chemotools
#: demo) is left out: it is a classification set, and the example templates are PLS
#: regression sweeps, so every config would fail on it.
DEMO_DATASETS = ("fermentation",)


def _write_csv(frame: pl.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.write_csv(tmp)


def write_demo_data(folder: str | os.PathLike[str]) -> list[Path]:
    """Write the demo datasets under ``folder`` in the ``X_train/y_train/X_test/y_test.csv``
    layout that :func:`nirs_core.data.load` reads (wavelengths as the X headers). A dataset whose
    folder exists already is left alone. Returns the dataset folders."""
    from nirs_core.app.demo import load_demo

    written = []
    for name in DEMO_DATASETS:
        dest = Path(folder) / name
        if not (dest / "y_test.csv").is_file():
            ds = load_demo(name)
            header = [f"{w:g}" for w in ds.wavelengths()]
            target = ds.target_names[0]
            for part in ("train", "test"):
                (X,) = ds.x({"partition": part}, src_concat=True)
                y = np.asarray(ds.y({"partition": part})).reshape(-1)
                _write_csv(pl.DataFrame(X, schema=header, orient="row"), dest / f"X_{part}.csv")
                _write_csv(pl.DataFrame({target: y}), dest / f"y_{part}.csv")
            atomic_write_text(
                dest / "SOURCE.txt",
                f"{ds.load_info.get('source', name)}\nWritten by nirs_dagster from the chemotools package (MIT).\n",
            )
        written.append(dest)
    return written


class NirsResource(dg.ConfigurableResource):
    """Roots of the NIR calibration system. Empty fields read ``NIRS_DATA_DIR``,
    ``NIRS_TEMPLATES_DIR``, ``NIRS_WORKSPACE`` (and ``NIRS_BUNDLE_KEY_FILE``), then the defaults
    in the module docstring."""

    data_dir: str = Field(
        default="",
        description="Dataset inbox: one sub-folder or file per dataset. Empty: $NIRS_DATA_DIR, else the bundled demo data.",
    )
    templates_dir: str = Field(
        default="",
        description=(
            "Template inbox (.yaml/.yml/.json). Empty: $NIRS_TEMPLATES_DIR, else the project's examples/ "
            "(nirs_dagster/demo_templates/ with the demo data)."
        ),
    )
    workspace: str = Field(
        default="",
        description="The engine's workspace. Empty: $NIRS_WORKSPACE, else ./nirs_workspace.",
    )
    bundle_key_file: str = Field(
        default="",
        description=(
            "Signing key of the model bundles: an Ed25519 private key (`nirs keys generate`) or a "
            "legacy HMAC key file. Empty: $NIRS_SIGNING_KEY_FILE, $NIRS_BUNDLE_KEY / "
            "$NIRS_BUNDLE_KEY_FILE, else <workspace>/keys/signing.key (an Ed25519 pair, created on "
            "first use; verifiers need only keys/signing.pub)."
        ),
    )

    reference_dir: str = Field(
        default="",
        description=(
            "Reference samples of ongoing checks (ISO 12099 §11): one sub-folder per dataset, each file a "
            "batch of spectra with laboratory values. Empty: $NIRS_REFERENCE_DIR, else none."
        ),
    )

    def reference_path(self) -> Path | None:
        """The reference samples' folder, or None when none is configured."""
        given = self.reference_dir or os.environ.get("NIRS_REFERENCE_DIR")
        return Path(given).resolve() if given else None

    dask_address: str = Field(
        default="",
        description=(
            "Dask scheduler that computes the engine's sweeps inside a run: tcp://host:port, or 'local' "
            "(a LocalCluster sized to the machine, for the run's duration). Empty: $NIRS_DASK_ADDRESS, "
            "else in the run's process."
        ),
    )

    def dask(self) -> str | None:
        """The Dask address the engine's sweeps go to, or None (in the run's process)."""
        return self.dask_address or os.environ.get("NIRS_DASK_ADDRESS") or None

    def run_engine(self, **kwargs: Any) -> Any:
        """An engine run (:func:`nirs_core.app.run.run`, with ``kwargs``) in this resource's
        workspace, its sweeps computed in this process or on the Dask cluster of :meth:`dask`
        (the same numbers either way): the one place the assets call the engine from."""
        from nirs_core.app.run import run

        return run(workspace=self.workspace_path(), executor=self.dask(), **kwargs)

    def workspace_path(self) -> Path:
        root = Path(self.workspace or os.environ.get("NIRS_WORKSPACE") or "nirs_workspace").resolve()
        root.mkdir(parents=True, exist_ok=True)
        return root

    def data_path(self) -> Path:
        given = self.data_dir or os.environ.get("NIRS_DATA_DIR")
        if given:
            path = Path(given).resolve()
            if not path.is_dir():
                raise NotADirectoryError(
                    f"NirsResource: data_dir (or $NIRS_DATA_DIR) must be a folder of datasets; got {path}."
                )
            return path
        demo = self.workspace_path() / "demo_data"
        write_demo_data(demo)
        return demo

    def templates_path(self) -> Path:
        default = _REPO / "examples"
        if not (self.data_dir or os.environ.get("NIRS_DATA_DIR")):
            default = _DEMO_TEMPLATES  # the demo data with the template made for it
        path = Path(self.templates_dir or os.environ.get("NIRS_TEMPLATES_DIR") or default).resolve()
        if not path.is_dir():
            raise NotADirectoryError(
                f"NirsResource: templates_dir (or $NIRS_TEMPLATES_DIR) must be a folder of templates; got {path}."
            )
        return path

    def dagster_path(self) -> Path:
        """Where the IO managers' records and the config catalogue live: ``<workspace>/dagster``
        (the engine's own files, which the records name, are in the workspace itself)."""
        return self.workspace_path() / "dagster"

    def bundle_key_path(self) -> Path | None:
        """The key file to sign bundles with; ``None`` when ``$NIRS_BUNDLE_KEY`` holds the key."""
        if self.bundle_key_file:
            return Path(self.bundle_key_file)
        if os.environ.get("NIRS_SIGNING_KEY_FILE"):
            return Path(os.environ["NIRS_SIGNING_KEY_FILE"])
        if os.environ.get("NIRS_BUNDLE_KEY_FILE"):
            return Path(os.environ["NIRS_BUNDLE_KEY_FILE"])
        if os.environ.get("NIRS_BUNDLE_KEY"):
            return None
        from nirs_core.store.lock import workspace_lock
        from nirs_core.store.signing import generate_keys

        folder = self.workspace_path() / "keys"
        path = folder / "signing.key"
        if not path.is_file():
            with workspace_lock(self.workspace_path(), "keys"):  # one pair, whoever comes first
                if not path.is_file():
                    generate_keys(folder)
        return path
