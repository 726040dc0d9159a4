"""Replay: bit-exact predictions on numpy alone, and clear refusals of input that does not fit."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from test_bundle_fixtures import KEY, corn_parts, read_members, resign, write_members

from nirs_core.app.predict import predict
from nirs_core.data import SpectroDataset, load
from nirs_core.errors import BundleIntegrityError, DataError
from nirs_core.graph.replay import prepare_input
from nirs_core.store.bundle import open_bundle, write_bundle

pytestmark = pytest.mark.usefixtures("no_ambient_key")


@pytest.fixture(scope="module")
def project(corn_arrays, tmp_path_factory):
    parts = corn_parts(corn_arrays, folds=3)
    path = write_bundle(parts, tmp_path_factory.mktemp("b") / "p.zip", key=KEY, datasheet=False)
    return path, parts


def test_replay_equals_the_estimators_bit_for_bit(project, corn_arrays):
    path, parts = project
    got = predict(path, corn_arrays["Xval"], key=KEY, values_only=True)
    assert got.shape == (20, 1) and got.dtype == np.float64
    assert np.array_equal(got[:, 0], parts["expected"])
    one = predict(path, corn_arrays["Xval"][3], key=KEY, values_only=True)  # a 1-D array is one spectrum
    assert one.shape == (1, 1)


def test_fold_ensemble_is_the_mean_of_the_fold_models(project, corn_arrays, tmp_path):
    _, parts = project
    path = write_bundle(parts, tmp_path / "e.zip", key=KEY, fits="ensemble", datasheet=False)
    got = predict(path, corn_arrays["Xval"], key=KEY, values_only=True)
    np.testing.assert_allclose(got[:, 0], parts["expected_ensemble"], rtol=0, atol=1e-12)


def test_third_party_pickled_step_replays_after_verification(corn_arrays, tmp_path):
    parts = corn_parts(corn_arrays, pickled=True)
    path = write_bundle(parts, tmp_path / "s.zip", key=KEY, datasheet=False)
    assert np.array_equal(
        predict(path, corn_arrays["Xval"], key=KEY, allow_pickle=True, values_only=True)[:, 0], parts["expected"]
    )


def test_project_bundle_replays_without_scikit_learn(project, corn_arrays, tmp_path):
    path, parts = project
    np.save(tmp_path / "x.npy", corn_arrays["Xval"])
    code = (
        "import sys, numpy as np, nirs_core\n"
        f"p = nirs_core.predict({str(path)!r}, np.load({str(tmp_path / 'x.npy')!r}), key={KEY!r}, values_only=True)\n"
        f"q = nirs_core.predict({str(path)!r}, {str(corn_arrays_path('Xval.csv'))!r}, key={KEY!r}, values_only=True)\n"
        "np.save(sys.argv[1], np.stack([p, q]))\n"
        "bad = [m for m in ('sklearn', 'polars', 'matplotlib', 'pickle_marker') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = tmp_path / "out.npy"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True)
    p, q = np.load(out)
    assert np.array_equal(p[:, 0], parts["expected"]) and np.array_equal(q, p)


def corn_arrays_path(name):
    from conftest import shared_path

    return shared_path("corn", name)


def test_plain_csv_fast_path_equals_the_loaders(project, corn_arrays):
    path, _ = project
    bundle = open_bundle(path, key=KEY)
    for name in ("Xval.csv", "Xcal.csv"):
        fast = prepare_input(bundle, corn_arrays_path(name)).sources[0]
        slow = prepare_input(bundle, load(corn_arrays_path(name))).sources[0]
        assert np.array_equal(fast, slow) and np.array_equal(fast, corn_arrays[name[:4]])
    folder = prepare_input(bundle, corn_arrays_path("")).sources[0]  # every partition, file order
    assert np.array_equal(folder, np.vstack([corn_arrays["Xcal"], corn_arrays["Xval"]]))


def test_dataset_input_and_sample_ids(project, corn_arrays, tmp_path):
    path, parts = project
    wl = corn_arrays["wavelengths"]
    csv = tmp_path / "with_ids.csv"
    header = "sample_id;" + ";".join(f"{w:g}" for w in wl)
    rows = [f"S{i:03d};" + ";".join(repr(float(v)) for v in x) for i, x in enumerate(corn_arrays["Xval"])]
    csv.write_text(header + "\n" + "\n".join(rows) + "\n")
    bundle = open_bundle(path, key=KEY)
    prepared = prepare_input(bundle, csv)
    assert prepared.sample_column == "sample_id" and list(prepared.sample[:2]) == ["S000", "S001"]
    assert np.array_equal(predict(bundle, csv, values_only=True)[:, 0], parts["expected"])
    ds = SpectroDataset.from_arrays(corn_arrays["Xval"], wavelengths=wl, units="nm")
    assert np.array_equal(predict(bundle, ds, values_only=True)[:, 0], parts["expected"])


def test_wrong_wavelength_axis_is_refused_with_how_it_differs(project, corn_arrays):
    path, _ = project
    wl = corn_arrays["wavelengths"]
    bundle = open_bundle(path, key=KEY)
    shifted = SpectroDataset.from_arrays(corn_arrays["Xval"], wavelengths=wl + 1.0, units="nm")
    with pytest.raises(
        DataError,
        match=r"wavelength axis differs from the training axis: range 1101–2499 nm instead of 1100–2498 nm; "
        r"first differing position 1: 1101 instead of 1100\. Pass resample=True",
    ):
        predict(bundle, shifted, values_only=True)
    shorter = SpectroDataset.from_arrays(corn_arrays["Xval"][:, :-5], wavelengths=wl[:-5], units="nm")
    with pytest.raises(
        DataError, match=r"695 wavelengths instead of 700; range 1100–2488 nm .*first 695 values agree"
    ):
        predict(bundle, shorter, values_only=True)
    other_unit = SpectroDataset.from_arrays(corn_arrays["Xval"], wavelengths=wl, units="cm-1")
    with pytest.raises(DataError, match="the wavelength unit is 'cm-1'; the bundle was trained on 'nm'"):
        predict(bundle, other_unit, values_only=True)


def test_resample_interpolates_onto_the_training_axis(project, corn_arrays):
    path, parts = project
    wl = corn_arrays["wavelengths"]
    bundle = open_bundle(path, key=KEY)
    fine = np.arange(1090.0, 2510.0, 1.0)
    X_fine = np.stack([np.interp(fine, wl, x) for x in corn_arrays["Xval"]])  # exact at the old points
    ds = SpectroDataset.from_arrays(X_fine, wavelengths=fine, units="nm")
    got = predict(bundle, ds, resample=True, values_only=True)
    np.testing.assert_allclose(got[:, 0], parts["expected"], rtol=0, atol=1e-9)
    descending = SpectroDataset.from_arrays(X_fine[:, ::-1].copy(), wavelengths=fine[::-1].copy(), units="nm")
    np.testing.assert_allclose(predict(bundle, descending, resample=True, values_only=True), got, rtol=0, atol=1e-12)
    narrow = SpectroDataset.from_arrays(corn_arrays["Xval"][:, 5:], wavelengths=wl[5:], units="nm")
    with pytest.raises(DataError, match=r"covers only 1110–2498 and extrapolation is refused"):
        predict(bundle, narrow, resample=True, values_only=True)


def test_wrong_number_of_columns_or_sources(project, corn_arrays):
    path, _ = project
    bundle = open_bundle(path, key=KEY)
    with pytest.raises(
        DataError, match=r"source 0 \('X'\): expected 700 columns \(one per training wavelength\); got 699"
    ):
        predict(bundle, corn_arrays["Xval"][:, 1:], values_only=True)
    with pytest.raises(DataError, match=r"got 2 source array\(s\); the bundle expects 1"):
        predict(bundle, [corn_arrays["Xval"], corn_arrays["Xval"]], values_only=True)
    with pytest.raises(
        DataError, match=r"expected a 2-D array \(spectra × wavelengths\); got shape \(2, 3, 700\)"
    ):
        predict(bundle, np.zeros((2, 3, 700)), values_only=True)
    with pytest.raises(DataError, match="expected numbers; got an array of dtype <U1"):
        predict(bundle, np.full((2, 700), "a"), values_only=True)
    with pytest.raises(
        DataError,
        match="expected spectra as a numpy array, a list of arrays, a SpectroDataset or a path; got int",
    ):
        predict(bundle, 3, values_only=True)
    two = SpectroDataset.from_arrays([corn_arrays["Xval"], corn_arrays["Xval"][:, :3]])
    with pytest.raises(DataError, match=r"2 source\(s\) \['source_0', 'source_1'\]; the bundle expects 1"):
        predict(bundle, two, values_only=True)


def test_nan_and_inf_are_refused_naming_the_row(project, corn_arrays, tmp_path):
    path, _ = project
    bundle = open_bundle(path, key=KEY)
    X = corn_arrays["Xval"].copy()
    X[7, 12] = np.nan
    with pytest.raises(DataError, match=r"row 7 \(0-based\) holds nan at column 13; expected finite numbers"):
        predict(bundle, X, values_only=True)
    X[7, 12] = np.inf
    with pytest.raises(DataError, match=r"row 7 \(0-based\) holds inf at column 13"):
        predict(bundle, X, values_only=True)
    wl = corn_arrays["wavelengths"]
    csv = tmp_path / "nan.csv"
    lines = [";".join(f"{w:g}" for w in wl)] + [
        ";".join(repr(float(v)) for v in x) for x in corn_arrays["Xval"][:3]
    ]
    lines[2] = lines[2].replace(lines[2].split(";")[4], "nan", 1)
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"nan\.csv.*row 3.*(NaN|nan)"):
        predict(bundle, csv, values_only=True)
    with pytest.raises(DataError, match="no such file or folder of spectra"):
        predict(bundle, tmp_path / "absent.csv", values_only=True)


def test_graph_that_names_a_foreign_kernel_is_refused(project, corn_arrays, tmp_path):
    path, _ = project
    members = read_members(path)
    graph = json.loads(members["graph.json"])
    graph["nodes"][1]["kernel"] = "os:system"
    members["graph.json"] = json.dumps(graph).encode()
    bad = write_members(tmp_path / "k.zip", resign(members))
    with pytest.raises(
        BundleIntegrityError,
        match="names kernel 'os:system'; kernels must be functions of a nirs_core module",
    ):
        predict(bad, corn_arrays["Xval"], key=KEY, values_only=True)
    graph["nodes"][1]["kernel"] = "nirs_core.operators._kernels:no_such_kernel"
    members["graph.json"] = json.dumps(graph).encode()
    bad = write_members(tmp_path / "k2.zip", resign(members))
    with pytest.raises(BundleIntegrityError, match="which this version of nirs_core does not have"):
        predict(bad, corn_arrays["Xval"], key=KEY, values_only=True)


def _edited(path, tmp_path, name, edit):
    members = read_members(path)
    data = json.loads(members[name])
    edit(data)
    members[name] = json.dumps(data).encode()
    return write_members(tmp_path / f"edit-{name}.zip", resign(members))


def test_malformed_but_validly_signed_graphs_are_refused(project, corn_arrays, tmp_path):
    path, _ = project
    X = corn_arrays["Xval"]

    def two_parents(g):
        g["nodes"][2]["parents"] = ["000_input", "001_SNV"]

    with pytest.raises(
        BundleIntegrityError, match="node '002_SavitzkyGolay' of kind 'transform' has 2 parents"
    ):
        predict(_edited(path, tmp_path, "graph.json", two_parents), X, key=KEY, values_only=True)

    def far_source(g):
        g["nodes"][0]["meta"]["source"] = 3

    with pytest.raises(BundleIntegrityError, match="input node '000_input' reads source 3; the input has 1"):
        predict(_edited(path, tmp_path, "graph.json", far_source), X, key=KEY, values_only=True)

    def no_output(g):
        g["outputs"].pop("node")
        g["nodes"][-1]["kind"] = "identity"

    with pytest.raises(BundleIntegrityError, match="names no output node and has 0 nodes of kind 'output'"):
        predict(_edited(path, tmp_path, "graph.json", no_output), X, key=KEY, values_only=True)

    def wrong_output(g):
        g["outputs"]["node"] = "999_nowhere"

    with pytest.raises(BundleIntegrityError, match="output node '999_nowhere' is not in the graph"):
        predict(_edited(path, tmp_path, "graph.json", wrong_output), X, key=KEY, values_only=True)

    def lost_artefact(g):
        g["nodes"][1]["artifacts"] = {"refit": "0" * 64 + ".npz"}

    with pytest.raises(BundleIntegrityError, match="which the bundle does not hold"):
        open_bundle(_edited(path, tmp_path, "graph.json", lost_artefact), key=KEY)

    def not_a_graph(g):
        g["format"] = "other/1"

    with pytest.raises(BundleIntegrityError, match="malformed descriptor"):
        open_bundle(_edited(path, tmp_path, "graph.json", not_a_graph), key=KEY)

    def other_format(info):
        info["format"] = "nirs.bundle/99"

    with pytest.raises(
        BundleIntegrityError, match=r"bundle format 'nirs\.bundle/99'; this version reads nirs\.bundle/1"
    ):
        open_bundle(_edited(path, tmp_path, "bundle.json", other_format), key=KEY)

    members = read_members(path)
    del members["input.json"]
    with pytest.raises(BundleIntegrityError, match=r"required member\(s\) \['input.json'\] are missing"):
        open_bundle(write_members(tmp_path / "noinput.zip", resign(members)), key=KEY)


def test_unreadable_npz_state_fails_verification(corn_arrays, tmp_path):
    from nirs_core.store.bundle import verify_bundle

    parts = corn_parts(corn_arrays)
    name = parts["graph"].node("001_SNV").artifacts["refit"]
    parts["artifacts"] = {**parts["artifacts"], name: b"not an npz"}
    path = write_bundle(parts, tmp_path / "bad.zip", key=KEY, datasheet=False)
    with pytest.raises(BundleIntegrityError, match="is not a readable state"):
        verify_bundle(path, key=KEY)


def test_classification_ensemble_votes(tmp_path):
    from nirs_core.graph.replay import _vote

    stack = np.array([[["a"], ["b"]], [["b"], ["b"]], [["a"], ["a"]]])
    assert _vote(stack, ["b", "a"]).ravel().tolist() == ["a", "b"]
    tie = np.array([[["a"]], [["b"]]])
    assert _vote(tie, ["b", "a"]).ravel().tolist() == ["b"]


def test_two_source_graph_concatenates_and_checks_row_counts(corn_arrays, tmp_path):
    from nirs_core.graph.runtime import Node, RuntimeGraph

    wl = corn_arrays["wavelengths"]
    graph = RuntimeGraph(
        inputs=[
            {"name": "nir", "n_features": 700, "wavelengths": wl.tolist(), "unit": "nm"},
            {"name": "extra", "n_features": 3},
        ],
        outputs={"node": "003_out", "targets": ["a", "b"], "task": "regression"},
    )
    graph.add(Node("000_nir", "input", meta={"source": 0}))
    graph.add(Node("001_extra", "input", meta={"source": 1}))
    graph.add(Node("002_concat", "concat", ["000_nir", "001_extra"]))
    graph.add(Node("003_out", "output", ["002_concat"]))
    path = write_bundle({"graph": graph, "artifacts": {}}, tmp_path / "two.zip", key=KEY, datasheet=False)
    a, b = corn_arrays["Xval"], np.arange(60.0).reshape(20, 3)
    got = predict(path, [a, b], key=KEY, values_only=True)
    assert np.array_equal(got, np.hstack([a, b]))
    with pytest.raises(DataError, match=r"the source arrays have different numbers of rows \[20, 19\]"):
        predict(path, [a, b[:19]], key=KEY, values_only=True)
