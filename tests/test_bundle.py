"""Writing and opening bundles: members, manifest, signature, keys, fits, atomic writes."""

from __future__ import annotations

import hashlib
import hmac
import json
import zipfile

import numpy as np
import pytest
from test_bundle_fixtures import KEY, corn_parts, read_members

from nirs_core.errors import BundleIntegrityError, ConfigError
from nirs_core.graph.runtime import Node, RuntimeGraph
from nirs_core.store.bundle import (
    DEFAULT_KEY_FILE,
    KEY_ENV,
    KEY_FILE_ENV,
    key_id,
    open_bundle,
    resolve_key,
    verify_bundle,
    write_bundle,
)

pytestmark = pytest.mark.usefixtures("no_ambient_key")


@pytest.fixture(scope="module")
def parts(corn_arrays):
    return corn_parts(corn_arrays, pickled=True, folds=3)


def test_members_manifest_and_signature_are_what_the_format_says(parts, tmp_path):
    path = write_bundle(parts, tmp_path / "m.zip", key=KEY, datasheet=False)
    members = read_members(path)
    names = set(members)
    assert {"bundle.json", "graph.json", "input.json", "manifest.sha256", "signature"} <= names
    artefacts = sorted(n for n in names if n.startswith("artifacts/"))
    # one artefact per fitted node for the refit (SNV, SG, StandardScaler, PLS)
    assert len(artefacts) == 4
    assert sum(a.endswith(".pkl") for a in artefacts) == 1
    # the manifest: sha256 of every other member, sorted, "<sha>  <name>" lines (checked with hashlib)
    expected = "".join(
        f"{hashlib.sha256(members[n]).hexdigest()}  {n}\n"
        for n in sorted(names - {"manifest.sha256", "signature"})
    )
    assert members["manifest.sha256"].decode() == expected
    sig = json.loads(members["signature"])
    assert sig["algorithm"] == "HMAC-SHA256"
    assert sig["mac"] == hmac.new(KEY.encode(), members["manifest.sha256"], hashlib.sha256).hexdigest()
    assert sig["key_id"] == key_id(KEY.encode()) and KEY not in members["signature"].decode()
    info = json.loads(members["bundle.json"])
    assert info["fits"] == {"mode": "refit", "names": ["refit"]}
    assert info["targets"] == ["oil"] and info["task"] == "regression"
    assert info["structure_hash"] == parts["graph"].structure_hash()
    spec = json.loads(members["input.json"])
    assert spec["n_sources"] == 1 and spec["n_features"] == 700 and spec["dtype"] == "float64"
    assert spec["sources"][0]["unit"] == "nm" and spec["sources"][0]["wavelengths"][0] == 1100.0
    graph = RuntimeGraph.from_json(members["graph.json"].decode())
    assert all(set(n.artifacts) <= {"refit"} for n in graph.nodes)
    assert graph.structure_hash() == parts["graph"].structure_hash()
    # no member is a directory, every timestamp is fixed (reproducible bytes)
    with zipfile.ZipFile(path) as zf:
        assert all(not zi.is_dir() and zi.date_time == (1980, 1, 1, 0, 0, 0) for zi in zf.infolist())


def test_open_bundle_returns_verified_descriptors(parts, tmp_path):
    path = write_bundle(parts, tmp_path / "m.zip", key=KEY, datasheet=False)
    bundle = open_bundle(path, key=KEY)
    assert bundle.signature == "valid" and bundle.key_id == key_id(KEY.encode())
    assert bundle.fits == ["refit"] and bundle.fit_mode == "refit"
    assert bundle.targets == ["oil"] and bundle.task == "regression" and bundle.classes == []
    assert bundle.datasheet() is None
    state = bundle.state("004_PLS", "refit")
    assert set(state) == {"coef", "intercept"} and state["coef"].shape == (700,)
    assert bundle.state("004_PLS", "refit") is state  # cached
    assert bundle.state("005_output", "refit") == {}
    with pytest.raises(BundleIntegrityError, match="node '004_PLS' has no artefact for fit 'fold_0'"):
        bundle.state("004_PLS", "fold_0")
    with pytest.raises(BundleIntegrityError, match=r"no member 'nope\.txt'"):
        bundle.member("nope.txt")
    summary = verify_bundle(path, key=KEY)
    assert summary["signature"] == "valid" and summary["artifacts"] == 4 and summary["pickled_artifacts"] == 1
    assert summary["targets"] == ["oil"] and summary["nodes"] == len(parts["graph"].nodes)


def test_ensemble_bundle_records_the_fold_fits(parts, tmp_path):
    path = write_bundle(parts, tmp_path / "e.zip", key=KEY, fits="ensemble", datasheet=False)
    bundle = open_bundle(path, key=KEY)
    assert bundle.fit_mode == "ensemble" and bundle.fits == ["fold_0", "fold_1", "fold_2"]
    assert all(set(n.artifacts) == set(bundle.fits) for n in bundle.graph.nodes if n.artifacts)
    explicit = write_bundle(parts, tmp_path / "x.zip", key=KEY, fits=["fold_1"], datasheet=False)
    assert open_bundle(explicit, key=KEY).fits == ["fold_1"]


def test_stateless_node_with_one_artefact_serves_every_fit(parts, tmp_path):
    shared = dict(parts)
    graph = RuntimeGraph.from_json(parts["graph"].to_json())
    snv = graph.node("001_SNV")
    snv.artifacts = {"refit": snv.artifacts["refit"]}  # computed once for all folds
    shared["graph"] = graph
    path = write_bundle(shared, tmp_path / "e.zip", key=KEY, fits="ensemble", datasheet=False)
    node = open_bundle(path, key=KEY).graph.node("001_SNV")
    assert set(node.artifacts) == {"fold_0", "fold_1", "fold_2"} and len(set(node.artifacts.values())) == 1


def test_write_bundle_refuses_what_it_cannot_bundle(parts, tmp_path, monkeypatch):
    out = tmp_path / "m.zip"
    with pytest.raises(ConfigError, match="no signing key; make one with `nirs keys generate`"):
        write_bundle(parts, out)
    with pytest.raises(ConfigError, match="fits must be 'refit', 'ensemble' or a list"):
        write_bundle(parts, out, key=KEY, fits="best")
    no_folds = corn_parts_without_folds(parts)
    with pytest.raises(ConfigError, match="fits='ensemble' needs the fold fits"):
        write_bundle(no_folds, out, key=KEY, fits="ensemble")
    partial = dict(parts, graph=RuntimeGraph.from_json(parts["graph"].to_json()))
    pls = partial["graph"].node("004_PLS")
    pls.artifacts = {"refit": pls.artifacts["refit"], "fold_0": pls.artifacts["fold_0"]}
    with pytest.raises(ConfigError, match="node '004_PLS' has no artefact for fit 'fold_1'"):
        write_bundle(partial, out, key=KEY, fits="ensemble")
    missing = dict(parts, artifacts={})
    with pytest.raises(ConfigError, match="which is not among the result's artefacts"):
        write_bundle(missing, out, key=KEY)
    renamed = dict(parts, graph=RuntimeGraph.from_json(parts["graph"].to_json()))
    renamed["graph"].node("001_SNV").artifacts = {"refit": "../up.npz"}
    with pytest.raises(
        ConfigError, match=r"artefact name must be a plain file name ending in \.npz or \.pkl"
    ):
        write_bundle(renamed, out, key=KEY)
    wrong_kind = dict(parts, graph=RuntimeGraph.from_json(parts["graph"].to_json()))
    scaler = wrong_kind["graph"].node("003_StandardScaler")
    wrong_kind["graph"].node("001_SNV").artifacts = dict(scaler.artifacts)
    with pytest.raises(
        ConfigError, match=r"expected \.pkl for kind 'pickled' and \.npz for every other kind"
    ):
        write_bundle(wrong_kind, out, key=KEY)
    with pytest.raises(ConfigError, match="with a RuntimeGraph as 'graph'; got dict"):
        write_bundle({"graph": {}, "artifacts": {}}, out, key=KEY)
    with pytest.raises(ConfigError, match="expected 'artifacts' to map file names to bytes; got list"):
        write_bundle({"graph": parts["graph"], "artifacts": []}, out, key=KEY)
    with pytest.raises(
        ConfigError, match="datasheet must be False, a built datasheet mapping or a datasheet builder"
    ):
        write_bundle(parts, out, key=KEY, datasheet="yes")
    bare = dict(parts, graph=RuntimeGraph.from_json(parts["graph"].to_json()))
    bare["graph"].inputs = []
    with pytest.raises(ConfigError, match="the graph records no inputs and no training dataset"):
        write_bundle(bare, out, key=KEY, datasheet=False)
    bare["graph"].inputs = [{"name": "X"}]
    with pytest.raises(ConfigError, match="input source 0 has neither n_features nor wavelengths"):
        write_bundle(bare, out, key=KEY, datasheet=False)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary file left behind


def corn_parts_without_folds(parts):
    graph = RuntimeGraph.from_json(parts["graph"].to_json())
    for node in graph.nodes:
        node.artifacts = {k: v for k, v in node.artifacts.items() if k == "refit"}
    return dict(parts, graph=graph)


def test_write_is_atomic_and_replaces_the_old_file(parts, tmp_path, monkeypatch):
    out = tmp_path / "m.zip"
    write_bundle(parts, out, key=KEY, datasheet=False)
    before = out.read_bytes()

    import nirs_core.store.bundle as bundle_module

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bundle_module, "_json_bytes", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_bundle(parts, out, key=KEY, datasheet=False)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.zip"]


def test_unsigned_bundles_need_explicit_trust(parts, tmp_path):
    path = write_bundle(parts, tmp_path / "u.zip", sign=False, datasheet=False)
    assert "signature" not in read_members(path)
    with pytest.raises(BundleIntegrityError, match="the bundle is not signed; refusing it"):
        open_bundle(path, key=KEY)
    assert open_bundle(path, trust_unsigned=True).signature == "missing"


def test_signed_bundle_without_a_key_is_refused_unless_trusted(parts, tmp_path):
    path = write_bundle(parts, tmp_path / "s.zip", key=KEY, datasheet=False)
    with pytest.raises(
        BundleIntegrityError, match=r"is signed \(key id [0-9a-f]{16}, HMAC-SHA256\) but no key is configured"
    ):
        open_bundle(path)
    assert open_bundle(path, trust_unsigned=True).signature == "unchecked"


def test_key_resolution_order_and_errors(tmp_path, monkeypatch):
    assert resolve_key() == (None, None)
    home_key = tmp_path / "home" / DEFAULT_KEY_FILE.relative_to("~")
    home_key.parent.mkdir(parents=True)
    home_key.write_text("k" * 20 + "\n")
    assert resolve_key()[0] == b"k" * 20
    env_file = tmp_path / "env.key"
    env_file.write_text("e" * 20)
    monkeypatch.setenv(KEY_FILE_ENV, str(env_file))
    assert resolve_key()[0] == b"e" * 20
    monkeypatch.setenv(KEY_ENV, "v" * 20)
    assert resolve_key() == (b"v" * 20, "$NIRS_BUNDLE_KEY")
    given = tmp_path / "given.key"
    given.write_bytes(b"  " + b"g" * 20 + b"\n")
    assert resolve_key(key_file=given)[0] == b"g" * 20
    assert resolve_key(key=b"x" * 16)[0] == b"x" * 16
    with pytest.raises(ConfigError, match="expected at least 16 bytes; got 5"):
        resolve_key(key="short")
    with pytest.raises(ConfigError, match=r"nope\.key \(from --key-file\): no such file"):
        resolve_key(key_file=tmp_path / "nope.key")


def test_bundle_written_from_a_key_file_opens_with_the_env_key(parts, tmp_path, monkeypatch):
    key_file = tmp_path / "bundle.key"
    key_file.write_text(KEY + "\n")
    path = write_bundle(parts, tmp_path / "k.zip", key_file=key_file, datasheet=False)
    monkeypatch.setenv(KEY_ENV, KEY)
    bundle = open_bundle(path)
    assert bundle.signature == "valid"
    np.testing.assert_equal(bundle.state("004_PLS", "refit")["coef"].dtype, np.float64)


def test_input_spec_lists_every_source_in_order(tmp_path, corn_arrays):
    graph = RuntimeGraph(
        inputs=[
            {
                "name": "a",
                "n_features": 700,
                "wavelengths": corn_arrays["wavelengths"].tolist(),
                "unit": "nm",
            },
            {"name": "b", "n_features": 3},
        ],
        outputs={"node": "003_out", "targets": ["t"], "task": "regression"},
    )
    graph.add(Node("000_a", "input", meta={"source": 0}))
    graph.add(Node("001_b", "input", meta={"source": 1}))
    graph.add(Node("002_concat", "concat", ["000_a", "001_b"]))
    graph.add(Node("003_out", "output", ["002_concat"]))
    path = write_bundle({"graph": graph, "artifacts": {}}, tmp_path / "two.zip", key=KEY, datasheet=False)
    spec = open_bundle(path, key=KEY).input
    assert spec["n_sources"] == 2 and spec["n_features"] == 703
    assert [s["name"] for s in spec["sources"]] == ["a", "b"] and spec["sources"][1]["wavelengths"] is None
