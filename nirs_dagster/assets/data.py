"""``spectra``: one dataset of the data folder, loaded and validated (an invalid one is not
stored: the last good value stays, see :mod:`nirs_dagster.validation`)."""

import dagster as dg

from nirs_core.data import SpectroDataset, load
from nirs_core.errors import DataError
from nirs_dagster._display import png_markdown, spectrum_plot
from nirs_dagster.partitions import dataset_partitions, discover_datasets
from nirs_dagster.resources import NirsResource
from nirs_dagster.validation import spectra_problems

__all__ = ["spectra"]


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="nirs",
    kinds={"polars", "numpy"},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def spectra(context: dg.AssetExecutionContext, nirs: NirsResource) -> SpectroDataset:
    """A dataset of the data folder (``NIRS_DATA_DIR``), loaded and validated by the engine's loaders."""
    key = context.partition_key
    found = discover_datasets(nirs.data_path())
    if key not in found:
        raise DataError(f"{nirs.data_path()}: no dataset {key!r}; found {sorted(found) or 'none'}.")
    ds = load(found[key], name=key)
    problems, details = spectra_problems(ds)
    if problems:  # raise before the IO manager stores it: the last good spectra stay in place
        raise dg.Failure(
            description=f"spectra {key}: {'; '.join(problems)}; not stored, the last good spectra are kept.",
            metadata={**details, "problems": dg.MetadataValue.json(problems)},
            allow_retries=False,
        )
    md = ds.get_metadata()
    lo, hi = md["wavelength_range"]
    (X,) = ds.x(src_concat=True)
    context.add_output_metadata(
        {
            "path": dg.MetadataValue.path(str(found[key])),
            "rows": md["n_rows"],
            "features": md["n_features"],
            "partitions": dg.MetadataValue.json(md["partitions"]),
            "wavelength_range": f"{lo:g}–{hi:g} {md['wavelength_unit']}",
            "task": md["task"] or "none",
            "targets": dg.MetadataValue.json(md["targets"]),
            "sha256": md["sha256"],
            # the file as read (the IO manager's "path" names the stored copy): fitted_pipeline
            # runs the engine on this file and checks that it still holds what was read
            "source": dg.MetadataValue.path(str(found[key])),
            "quick_hash": md["quick_hash"],
            "mean_spectrum": dg.MetadataValue.md(
                png_markdown(
                    spectrum_plot(ds.wavelengths(), X, ds.unit(), f"{key}: mean spectrum ± std"),
                    f"mean spectrum of {key}",
                )
            ),
            "summary": dg.MetadataValue.md(f"```\n{ds.summary()}\n```"),
        }
    )
    return ds
