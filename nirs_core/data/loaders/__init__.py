"""Loaders behind :func:`load`: detect the layout of a folder or file
(:mod:`~nirs_core.data.loaders.detect`), read it (:mod:`~nirs_core.data.loaders.read`), and
build a :class:`~nirs_core.data.dataset.SpectroDataset` (:mod:`~nirs_core.data.loaders.build`)
with everything inferred recorded in ``load_info``.

Layouts
-------
``cal_val``
    a folder with ``Xcal`` and optionally ``Ycal``, ``Xval``, ``Yval`` files (any case, an
    optional ``_``/``-`` after the X/Y, ``calibration``/``validation`` spelled out too, ``.csv``,
    ``.txt`` or ``.tsv``): calibration rows get partition ``train``, validation rows ``test``.
``train_test``
    the same with ``X_train``, ``y_train``, ``X_test``, ``y_test`` (``Xtrain``, ``x-train``…).
``multi_source``
    several ``X…`` files of the same samples (one per instrument or source, e.g. ``X_inst1``,
    ``X_inst2``) and optionally one ``y…`` file; one source per X file, in natural name order
    (or the order of ``sources=``).
``single_file``
    one delimited file: columns whose header is a number are spectra, the others (target,
    group, metadata…) are chosen by name.
``parquet``
    one parquet table with the same column semantics as ``single_file``.
``saved``
    a folder written by :meth:`SpectroDataset.save` (it holds ``dataset.json``): read back
    memory-mapped; the reading options do not apply to it.

Column roles
------------
Non-spectral columns (a y file's columns, an X file's columns whose header is not a number)
are assigned, in this order: ``target``, ``group``, ``sample`` (integer ids), ``partition``
(a column of labels mapped to partitions: cal/calibration/train/training → ``train``,
test/val/validation → ``test``, anything else kept as its own partition; ``partition_map``
extends the mapping), then every remaining one is metadata. Without ``target=``, the y files
of ``cal_val``/``train_test`` give the columns that every y file has (else the first numeric
column); a ``multi_source`` y file gives its first numeric column; a ``single_file``/``parquet``
table gives no target (its non-spectral columns are recorded and kept as metadata, never
used as spectra). A column named ``set``, ``partition`` or ``split`` holding text is taken as
the partition column when ``partition=`` is not given.

Errors are :class:`~nirs_core.errors.DataError` naming the file, the row (1-based line number
in the file; the header is line 1) and the column (header name and 1-based number).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from nirs_core.data.dataset import SpectroDataset
from nirs_core.data.loaders.build import build
from nirs_core.data.loaders.detect import LAYOUT_NAMES, LAYOUT_ROLES, detect_layout
from nirs_core.data.loaders.read import DEFAULT_PARTITION_MAP, Options, read_parts
from nirs_core.errors import DataError

__all__ = ["DEFAULT_PARTITION_MAP", "LAYOUT_NAMES", "detect_layout", "load"]


def load(
    path: str | os.PathLike,
    *,
    layout: str | None = None,
    target: str | Sequence[str] | None = None,
    group: str | None = None,
    metadata: str | Sequence[str] | None = None,
    sample: str | None = None,
    partition: str | None = None,
    partition_map: Mapping[str, str] | None = None,
    sources: Sequence[str] | Mapping[str, str] | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    decimal: str | None = None,
    unit: str | Sequence[str] | None = None,
    name: str | None = None,
    task: str | None = None,
) -> SpectroDataset:
    """Load a folder or file of spectra, detecting its layout (see the module docstring).

    Parameters
    ----------
    path: a folder (``cal_val``, ``train_test``, ``multi_source``, ``saved``, or a folder holding a
        single data file) or a file (``.csv``/``.txt``/``.tsv`` → ``single_file``, ``.parquet`` → ``parquet``).
    layout: force one of ``cal_val``, ``train_test``, ``single_file``, ``multi_source``, ``parquet``,
        ``saved``.
    target: the target column(s); ``group``: a column of group labels (samples of one group stay
        in one fold); ``sample``: a column of integer sample ids; ``metadata``: columns kept as
        metadata (every non-spectral column not otherwise used is kept as metadata anyway; this
        option also pulls numeric-header columns out of the spectra).
    partition: a column of partition labels (``single_file``, ``multi_source``, ``parquet``);
        ``partition_map`` maps its values to partition names (defaults in the module docstring).
    sources: ``multi_source`` only: the X files to use, in order (file names relative to the
        folder), or a mapping source name → file name.
    header: True/False forces whether the first line of each spectra (X) file is a header;
        None detects it (target files are always detected).
    delimiter, decimal: force the delimiter (``,`` ``;`` or tab) and decimal mark (``.`` ``,``)
        of every text file; sniffed from the content when None.
    unit: ``nm``, ``cm-1`` or ``index`` for every source, or one per source; inferred when None.
    name: the dataset name (default: the folder name or file stem).
    task: ``regression``, ``binary`` or ``multiclass``; inferred from the target when None.
    """
    # the reading options given (locals() holds exactly the parameters here)
    given = sorted(k for k, v in locals().items() if k not in ("path", "layout") and v is not None)
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root}: file not found (expected a data file or a folder of data files).")
    opts = Options.make(target, group, metadata, sample, partition, partition_map, header, delimiter, decimal)
    layout, files, reason = detect_layout(root, layout=layout, sources=sources)
    if layout == "saved":
        if given:
            raise DataError(
                f"{root}: a folder written by SpectroDataset.save is read back as saved; the reading options "
                f"{given} apply to spectra files only."
            )
        return SpectroDataset.load(root)
    if opts.partition is not None and layout in LAYOUT_ROLES:
        raise DataError(
            f"{root}: partition={opts.partition!r} applies to single_file, multi_source and parquet "
            f"layouts; {layout} takes the partition from the file names."
        )
    parts = read_parts(root, layout, files, opts)
    parts.info = {"layout": layout, "layout_reason": reason, "path": str(root), **parts.info}
    return build(root, parts, opts, unit=unit, name=name, task=task)
