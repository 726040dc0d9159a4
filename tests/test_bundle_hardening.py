"""Bundles as an attacker makes them: zip bombs and array bombs refused from their headers,
Ed25519 signatures that a verifier cannot forge, pickles that ``--trust-unsigned`` never loads.

Memory is measured with ``tracemalloc`` (what Python allocates while refusing); the time
each refusal takes is measured by ``bench/hostile_inputs.py``, not asserted here."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from conftest import shared_path
from test_bundle_fixtures import KEY, corn_parts, evil_parts, read_members, resign, write_members

from nirs_core.app.predict import predict
from nirs_core.cli import main as nirs
from nirs_core.errors import BundleIntegrityError, ConfigError
from nirs_core.graph.runtime import GraphError, state_from_bytes, state_to_bytes
from nirs_core.store import bundle as bundle_module
from nirs_core.store.bundle import open_bundle, verify_bundle, write_bundle
from nirs_core.store.signing import generate_keys, key_id, resolve_signer

pytestmark = pytest.mark.usefixtures("no_ambient_key")


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.fixture
def keys(tmp_path):
    return generate_keys(tmp_path / "keys")


def test_ed25519_signs_with_the_private_key_and_checks_with_the_public_one(keys, corn_arrays, tmp_path):
    private, public = keys
    assert private.stat().st_mode & 0o777 == 0o600
    path = write_bundle(corn_parts(corn_arrays), tmp_path / "b.zip", key_file=private)
    sig = json.loads(read_members(path)["signature"])
    assert sig["algorithm"] == "Ed25519" and len(sig["signature"]) == 128
    signer = resolve_signer(key_file=private)
    assert sig["key_id"] == key_id(signer.key) == signer.key_id
    opened = open_bundle(path, public_key=public)
    assert opened.signature == "valid" and opened.key_id == sig["key_id"]
    got = predict(path, corn_arrays["Xval"], public_key=public, values_only=True)
    assert np.allclose(got[:, 0], corn_parts(corn_arrays)["expected"], rtol=0, atol=1e-10)
    with pytest.raises(ConfigError, match=r"a public key verifies but cannot sign"):
        write_bundle(corn_parts(corn_arrays), tmp_path / "forged.zip", key_file=public)
    with pytest.raises(BundleIntegrityError, match=r"is signed \(key id [0-9a-f]{16}, Ed25519\) but no key"):
        open_bundle(path)
    assert open_bundle(path, trust_unsigned=True).signature == "unchecked"


def test_another_key_pair_or_an_edited_manifest_is_refused(keys, corn_arrays, tmp_path, monkeypatch):
    private, public = keys
    path = write_bundle(corn_parts(corn_arrays), tmp_path / "b.zip", key_file=private)
    _, other_public = generate_keys(tmp_path / "other")
    with pytest.raises(
        BundleIntegrityError, match=r"signature does not match the manifest: it was signed with another key"
    ):
        open_bundle(path, public_key=other_public)
    members = read_members(path)
    members["manifest.sha256"] = members["manifest.sha256"].replace(b"  bundle.json", b"  bundle.jsoo", 1)
    sig = json.loads(members["signature"])
    members["signature"] = json.dumps({**sig, "signature": "00" * 64}).encode()
    bad = write_members(tmp_path / "bad.zip", members)
    with pytest.raises(
        BundleIntegrityError, match=r"signature does not match the manifest: the manifest was changed"
    ):
        open_bundle(bad, public_key=public)
    members["signature"] = json.dumps({**sig, "signature": "zz"}).encode()
    with pytest.raises(
        BundleIntegrityError, match=r"the Ed25519 signature is malformed; expected 128 hex digits"
    ):
        open_bundle(write_members(tmp_path / "bad2.zip", members), public_key=public)
    members["signature"] = b"\xff not json"
    with pytest.raises(BundleIntegrityError, match=r"member 'signature' is malformed; expected JSON"):
        open_bundle(write_members(tmp_path / "bad3.zip", members), public_key=public)
    members["signature"] = json.dumps({"algorithm": "RSA"}).encode()
    with pytest.raises(
        BundleIntegrityError, match=r"signature algorithm 'RSA'; this version checks 'Ed25519'"
    ):
        open_bundle(write_members(tmp_path / "bad4.zip", members), public_key=public)
    # the environment variables work like the options
    monkeypatch.setenv("NIRS_SIGNING_KEY_FILE", str(private))
    env_signed = write_bundle(corn_parts(corn_arrays), tmp_path / "env.zip")
    monkeypatch.delenv("NIRS_SIGNING_KEY_FILE")
    monkeypatch.setenv("NIRS_VERIFY_KEY_FILE", str(public))
    assert open_bundle(env_signed).signature == "valid"
    (tmp_path / "not-a-key.pem").write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    monkeypatch.setenv("NIRS_VERIFY_KEY_FILE", str(tmp_path / "not-a-key.pem"))
    with pytest.raises(ConfigError, match=r"not a readable PEM key"):
        open_bundle(env_signed)
    monkeypatch.setenv("NIRS_VERIFY_KEY_FILE", str(tmp_path / "b.zip"))
    with pytest.raises(ConfigError, match=r"expected a PEM Ed25519 key \(from `nirs keys generate`\)"):
        open_bundle(env_signed)
    monkeypatch.delenv("NIRS_VERIFY_KEY_FILE")
    monkeypatch.setenv("NIRS_SIGNING_KEY_FILE", str(tmp_path / "b.zip"))
    with pytest.raises(ConfigError, match=r"NIRS_SIGNING_KEY_FILE: expected a PEM Ed25519 private key"):
        write_bundle(corn_parts(corn_arrays), tmp_path / "x.zip")


def test_old_hmac_bundles_stay_readable(corn_arrays, tmp_path):
    path = write_bundle(corn_parts(corn_arrays), tmp_path / "old.zip", key=KEY)
    assert json.loads(read_members(path)["signature"])["algorithm"] == "HMAC-SHA256"
    assert open_bundle(path, key=KEY).signature == "valid"
    members = read_members(path)
    members["signature"] = json.dumps({"algorithm": "HMAC-SHA256", "mac": 5}).encode()
    with pytest.raises(BundleIntegrityError, match=r"the HMAC signature is malformed"):
        open_bundle(write_members(tmp_path / "m.zip", members), key=KEY)


def test_keys_generate_keeps_existing_keys(tmp_path, capsys):
    assert nirs(["keys", "generate", "--out", str(tmp_path / "k")]) == 0
    before = (tmp_path / "k" / "signing.key").read_bytes()
    assert nirs(["keys", "generate", "--out", str(tmp_path / "k")]) == 2
    assert "a key is already there; keeping it" in capsys.readouterr().err
    assert (tmp_path / "k" / "signing.key").read_bytes() == before
    assert nirs(["keys", "generate", "--out", str(tmp_path / "k"), "--force"]) == 0
    assert (tmp_path / "k" / "signing.key").read_bytes() != before


def test_trust_unsigned_never_unpickles(corn_arrays, tmp_path, capsys):
    marker = tmp_path / "unpickled.marker"
    members = read_members(write_bundle(evil_parts(corn_arrays, marker), tmp_path / "e.zip", key=KEY))
    unsigned = write_members(
        tmp_path / "unsigned.zip", {k: v for k, v in members.items() if k != "signature"}
    )
    for path, opts in ((unsigned, {}), (tmp_path / "e.zip", {})):  # unsigned; signed, no key
        with pytest.raises(
            BundleIntegrityError, match=r"is a pickled third-party estimator .*runs code from the file"
        ):
            predict(path, corn_arrays["Xval"], trust_unsigned=True, **opts)
        assert not marker.exists()
    assert nirs(["predict", str(unsigned), str(shared_path("corn", "Xval.csv")), "--trust-unsigned"]) == 2
    assert "--allow-pickle" in capsys.readouterr().err and not marker.exists()
    with pytest.raises(AttributeError):  # the payload's "estimator" is what write_text returned
        predict(unsigned, corn_arrays["Xval"], trust_unsigned=True, allow_pickle=True)
    assert marker.read_text() == "unpickled!"  # the explicit opt-in does run it


def _bomb_zip(tmp_path, inflated: int) -> bytes:
    """A deflated member of ``inflated`` zero bytes beside a valid-looking manifest."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("manifest.sha256", b"")
        info = zipfile.ZipInfo("bundle.json", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(inflated >> 20):
                fh.write(chunk)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_from_its_headers(tmp_path):
    raw = _bomb_zip(tmp_path, 300 << 20)
    path = tmp_path / "bomb.zip"
    path.write_bytes(raw)
    assert len(raw) < 1 << 20
    with pytest.raises(
        BundleIntegrityError,
        match=r"member 'bundle.json' inflates \d+ bytes to 314572800 \(over 100 times\); refusing the bundle \(a zip bomb\)",
    ):
        open_bundle(path, trust_unsigned=True)
    peak = _peak(lambda: _swallow(open_bundle, path, trust_unsigned=True))
    assert peak < 20 << 20, peak


def _swallow(fn, *args, **kwargs):
    with pytest.raises(BundleIntegrityError):
        fn(*args, **kwargs)


def _patch_central_size(raw: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size a central directory entry declares (a lying header)."""
    out = bytearray(raw)
    pos = 0
    while True:
        pos = raw.find(b"PK\x01\x02", pos)
        if pos < 0:
            break
        name_len = int.from_bytes(raw[pos + 28 : pos + 30], "little")
        if raw[pos + 46 : pos + 46 + name_len] == name:
            out[pos + 24 : pos + 28] = size.to_bytes(4, "little")
            return bytes(out)
        pos += 4
    raise AssertionError(f"no central entry {name!r}")


def test_sizes_and_counts_are_bounded_before_reading(corn_arrays, tmp_path, monkeypatch):
    path = write_bundle(corn_parts(corn_arrays), tmp_path / "b.zip", key=KEY)
    raw = path.read_bytes()
    huge = tmp_path / "huge.zip"
    huge.write_bytes(_patch_central_size(raw, b"graph.json", 0xFFFF0000))
    with pytest.raises(
        BundleIntegrityError,
        match=r"member 'graph.json' declares 4294901760 bytes, over the 1073741824-byte limit",
    ):
        open_bundle(huge, key=KEY)
    lying = tmp_path / "lying.zip"
    lying.write_bytes(_patch_central_size(raw, b"graph.json", 10))
    with pytest.raises(
        BundleIntegrityError,
        match=r"member 'graph.json' (holds 11 bytes; its header declares 10|cannot be read)",
    ):
        open_bundle(lying, key=KEY)
    monkeypatch.setattr(bundle_module, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(
        BundleIntegrityError, match=r"the members declare \d+ bytes in all, over the 1000-byte limit"
    ):
        open_bundle(path, key=KEY)
    monkeypatch.setattr(bundle_module, "MAX_MEMBERS", 3)
    with pytest.raises(BundleIntegrityError, match=r"\d+ members, over the limit of 3"):
        open_bundle(path, key=KEY)
    monkeypatch.setattr(bundle_module, "MAX_MEMBERS", 10_000)
    monkeypatch.setattr(bundle_module, "MAX_TOTAL_BYTES", 2 << 30)
    monkeypatch.setattr(bundle_module, "MAX_SMALL_MEMBER", 10)
    with pytest.raises(
        BundleIntegrityError, match=r"member 'manifest.sha256' declares \d+ bytes, over its 10-byte limit"
    ):
        open_bundle(path, key=KEY)


def _npz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _npy_header(shape, dtype=np.float64) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def test_an_array_bomb_is_refused_from_its_header(corn_arrays, tmp_path):
    n = (2_800 << 20) // 8  # 2.8 GiB of float64
    bomb = _npz({"coef.npy": _npy_header((n,)) + bytes(64)})
    with pytest.raises(
        GraphError,
        match=r"array 'coef.npy' declares shape \(367001600,\) of float64 \(2936012800 bytes\) but holds \d+ bytes",
    ):
        state_from_bytes(bomb)
    assert _peak(lambda: _swallow_graph(bomb)) < 20 << 20
    with pytest.raises(GraphError, match=r"holds Python objects"):
        state_from_bytes(_npz({"o.npy": _npy_header((1,), object) + bytes(8)}))
    with pytest.raises(GraphError, match=r"array 'x.npy' has no valid .npy header"):
        state_from_bytes(_npz({"x.npy": b"not an npy file at all"}))
    with pytest.raises(GraphError, match=r"array 'z.npy' inflates \d+ bytes to \d+ \(over 100 times\)"):
        state_from_bytes(_npz({"z.npy": _npy_header((1 << 18,)) + bytes(8 << 18)}))
    good = state_to_bytes({"coef": np.arange(5.0), "k": 3})
    assert state_from_bytes(good)["k"] == 3
    # inside a validly signed bundle: verify refuses it, naming the artefact
    parts = corn_parts(corn_arrays)
    path = write_bundle(parts, tmp_path / "b.zip", key=KEY)
    members = read_members(path)
    name = next(m for m in members if m.endswith(".npz"))
    members[name] = bomb
    bad = write_members(tmp_path / "bomb.zip", resign(members))
    with pytest.raises(
        BundleIntegrityError,
        match=rf"artefact '{name}' is not a readable state \(fitted state: array 'coef.npy' declares",
    ):
        verify_bundle(bad, key=KEY)
    with pytest.raises(
        BundleIntegrityError, match=r"is not a readable state \(fitted state: array 'coef.npy' declares"
    ):
        predict(bad, corn_arrays["Xval"], key=KEY)


def _swallow_graph(data: bytes) -> None:
    with pytest.raises(GraphError):
        state_from_bytes(data)


@pytest.mark.parametrize(
    ("member", "content", "match"),
    [
        ("bundle.json", b"[1, 2]", r"bundle format 'list'"),
        ("bundle.json", b'{"format": "nirs.bundle/1", "fits": 3}', r"bundle.json needs fits.names"),
        ("input.json", b'{"sources": 5}', r"input.json needs sources, a non-empty list"),
        ("graph.json", b"[" * 100_000 + b"]" * 100_000, r"malformed descriptor"),
        ("input.json", b'{"sources": ["a"]}', r"input.json needs sources, a non-empty list"),
        ("input.json", b'{"sources": [{"n_features": "x"}]}', r"input.json needs sources"),
        ("input.json", b'{"sources": [{"n_features": 2, "wavelengths": "ab"}]}', r"input.json needs sources"),
        ("bundle.json", None, r"bundle.json needs fits.names, a non-empty list"),
        ("graph.json", None, r"graph.json: node '000_input' needs meta and params mappings"),
    ],
)
def test_malformed_signed_descriptors_are_one_error(corn_arrays, tmp_path, member, content, match, capsys):
    path = write_bundle(corn_parts(corn_arrays), tmp_path / "b.zip", key=KEY)
    members = read_members(path)
    if content is None and member == "bundle.json":  # fits without names
        info = json.loads(members[member])
        content = json.dumps({**info, "fits": {"mode": "refit", "names": []}}).encode()
    elif content is None:  # a node whose meta is not a mapping
        graph = json.loads(members[member])
        graph["nodes"][0]["meta"] = "x"
        content = json.dumps(graph).encode()
    members[member] = content
    bad = write_members(tmp_path / "bad.zip", resign(members))
    with pytest.raises(BundleIntegrityError, match=match):
        open_bundle(bad, key=KEY)
    assert nirs(["verify", str(bad), "--key-file", str(_key_file(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def _key_file(tmp_path):
    path = tmp_path / "hmac.key"
    path.write_text(KEY)
    return path
