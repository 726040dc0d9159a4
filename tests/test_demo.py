"""The demo (bundled fermentation spectra × the demo template) shows a model a chemometrician
would believe: its best config's test RMSEP is of the order of its RMSECV (within 2×), the
published treatment (crop 950–1500 cm⁻¹, linear baseline, Savitzky–Golay 15/2/1, PLS) is among
its options, and a calibration on the standards alone flags the on-line spectra it cannot
predict instead of scoring them silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from nirs_core.app.demo import load_demo
from nirs_core.app.predict import predict
from nirs_core.data import SpectroDataset
from nirs_core.pipeline.executor import execute_batch
from nirs_core.pipeline.generators import expand
from nirs_core.store.bundle import write_bundle

TEMPLATE = Path(__file__).resolve().parents[1] / "nirs_dagster" / "demo_templates" / "fermentation_pls.yaml"


@pytest.fixture(scope="module")
def demo():
    ds = load_demo("fermentation")
    results = execute_batch(expand(yaml.safe_load(TEMPLATE.read_text())), ds)
    return ds, results


def test_the_demo_best_test_rmsep_is_within_twice_its_rmsecv(demo):
    _, results = demo
    best = min(results, key=lambda r: r.cv_score)
    assert best.test_score <= 2 * best.cv_score, (best.config_name, best.cv_score, best.test_score)
    names = {r.config_name for r in results}
    assert any("LinearBaseline_SG_PLS" in n for n in names)  # the published treatment is an option
    validation = best.info["validation"]
    rows = {(r["fold"], r["partition"]): r for r in best.predictions if r["model"] == best.info["best_model"]}
    t, p = np.asarray(rows[(-1, "test")]["y_true"]), np.asarray(rows[(-1, "test")]["y_pred"])
    assert validation["test"]["rmsep"] == pytest.approx(np.sqrt(np.mean((p - t) ** 2)), rel=1e-12)
    assert best.info["domain"]["test_out_of_domain"] <= 0.2 * best.info["domain"]["test_n"]


def test_a_calibration_on_the_standards_alone_flags_every_online_spectrum(demo, tmp_path):
    ds, _ = demo
    (X,) = ds.x(None)
    y = np.asarray(ds.y(None, version="regression"))
    standards = np.arange(X.shape[0]) < 21  # the chemotools training set: spectra of standards
    only = SpectroDataset.from_arrays(
        X,
        y,
        name="standards",
        wavelengths=np.asarray(ds.wavelengths(0)),
        units="cm-1",
        partition=np.where(standards, "train", "test"),
        target_names=["glucose"],
    )
    results = execute_batch(expand(yaml.safe_load(TEMPLATE.read_text())), only)
    best = min(results, key=lambda r: r.cv_score)
    assert best.test_score > 3 * best.cv_score  # the extrapolation the README warns about
    table = predict(
        write_bundle(best, tmp_path / "s.zip", sign=False, dataset=only), X[~standards], trust_unsigned=True
    )
    assert not table["in_domain"].any()  # flagged, not silently scored
    assert (table["t2"] > table["t2_limit"]).mean() >= 0.9


def test_the_trained_demo_datasheet_is_a_validation_report(demo, tmp_path):
    import json
    import zipfile

    from nirs_core.app.train import train_bundle

    ds, results = demo
    folder = tmp_path / "fermentation"
    ds.save(folder)
    out = train_bundle(TEMPLATE, folder, tmp_path / "f.zip", sign=False)
    with zipfile.ZipFile(out["bundle"]) as z:
        sheet = json.loads(z.read("datasheet.json"))
        names = set(z.namelist())
        markdown = z.read("datasheet.md").decode()
    assert {"plots/domain_t2_q.png", "plots/rmsecv_curve.png", "plots/residuals.png"} <= names
    section = sheet["validation"]
    best = min(results, key=lambda r: r.cv_score)
    assert section["n_components"] == best.config[-1]["model"]["params"]["n_components"]
    curve = dict((int(a), r) for a, r in section["rmsecv_curve"])
    assert min(curve, key=curve.get) == section["n_components"]  # the count with the lowest RMSECV
    siblings = {
        r.config[-1]["model"]["params"]["n_components"]: r.cv_score
        for r in results
        if r.config[:-1] == best.config[:-1]
    }
    assert curve == pytest.approx(siblings, rel=1e-12)
    # the interval's empirical coverage: |ŷ − y| ≤ half-width on the test rows
    row = next(r for r in best.predictions if r["fold"] == -1 and r["partition"] == "test")
    half = section["domain"]["interval"]["half_width"][0]
    covered = np.mean(np.abs(np.asarray(row["y_pred"]) - np.asarray(row["y_true"])) <= half)
    assert section["interval_test_coverage"] == pytest.approx(covered)
    for text in (
        "## Validation (ISO 12099)",
        "| RMSEC / RMSECV / RMSEP |",
        "### Applicability domain",
        f"Latent variables: {section['n_components']}",
    ):
        assert text in markdown
