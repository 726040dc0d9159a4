"""A tampered bundle is refused before anything in it is parsed or unpickled.

The bundle under attack holds a ``pickled`` artefact whose unpickling writes a marker file:
each test checks the marker never appears. One control test proves the payload does fire
once the bundle is accepted, so its absence elsewhere means something.
"""

from __future__ import annotations

import json
import zipfile

import pytest
from test_bundle_fixtures import KEY, OTHER_KEY, evil_parts, read_members, resign, write_members

from nirs_core.app.predict import predict
from nirs_core.errors import BundleIntegrityError
from nirs_core.store.bundle import open_bundle, verify_bundle, write_bundle

pytestmark = pytest.mark.usefixtures("no_ambient_key")


@pytest.fixture
def evil(corn_arrays, tmp_path):
    """(bundle path, marker path): a validly signed bundle whose pickle writes the marker."""
    marker = tmp_path / "unpickled.marker"
    path = write_bundle(evil_parts(corn_arrays, marker), tmp_path / "evil.zip", key=KEY, datasheet=False)
    return path, marker


def _refused(path, marker, corn_arrays, match, **kwargs):
    kwargs.setdefault("key", KEY)
    with pytest.raises(BundleIntegrityError, match=match):
        verify_bundle(path, **kwargs)
    with pytest.raises(BundleIntegrityError, match=match):
        predict(path, corn_arrays["Xval"], **kwargs, values_only=True)
    assert not marker.exists(), "the pickle was loaded before the bundle was verified"


def test_control_the_payload_fires_once_the_bundle_is_accepted(evil, corn_arrays):
    path, marker = evil
    verify_bundle(path, key=KEY)  # verify never unpickles
    assert not marker.exists()
    # a valid signature is not consent to run code: without allow_pickle nothing is unpickled
    with pytest.raises(BundleIntegrityError, match=r"unpickling runs code from the file.*--allow-pickle"):
        predict(path, corn_arrays["Xval"], key=KEY, values_only=True)
    assert not marker.exists()
    with pytest.raises(AttributeError):  # the "estimator" is whatever write_text returned
        predict(path, corn_arrays["Xval"], key=KEY, allow_pickle=True, values_only=True)
    assert marker.read_text() == "unpickled!"


def _data_offset(raw: bytes, zi: zipfile.ZipInfo) -> int:
    header = raw[zi.header_offset : zi.header_offset + 30]
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    return zi.header_offset + 30 + name_len + extra_len


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_flipping_one_byte_of_any_member_is_refused(evil, corn_arrays, tmp_path, position):
    path, marker = evil
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    assert len(infos) >= 8
    for zi in infos:
        start = _data_offset(raw, zi)
        offset = {"first": 0, "middle": zi.compress_size // 2, "last": zi.compress_size - 1}[position]
        flipped = bytearray(raw)
        flipped[start + offset] ^= 0x01
        bad = tmp_path / f"flip-{position}.zip"
        bad.write_bytes(bytes(flipped))
        _refused(
            bad,
            marker,
            corn_arrays,
            r"cannot be read|hashes to sha256|signature does not match|not a valid zip",
        )


def test_changing_any_member_with_a_valid_zip_is_refused(evil, corn_arrays, tmp_path):
    """A careful attacker rewrites the zip (valid CRCs): the manifest or signature catches it."""
    path, marker = evil
    members = read_members(path)
    for name in members:
        changed = dict(members)
        changed[name] = members[name][:-1] + bytes([members[name][-1] ^ 0x01])
        bad = write_members(tmp_path / "changed.zip", changed)
        _refused(
            bad,
            marker,
            corn_arrays,
            rf"member '{name}' hashes to sha256|signature does not match|'signature' is malformed|"
            rf"{'manifest.sha256'} line",
        )


def test_removing_the_signature_is_refused(evil, corn_arrays, tmp_path):
    path, marker = evil
    members = read_members(path)
    del members["signature"]
    bad = write_members(tmp_path / "unsigned.zip", members)
    _refused(bad, marker, corn_arrays, "the bundle is not signed; refusing it")


def test_signing_with_another_key_is_refused(evil, corn_arrays, tmp_path):
    path, marker = evil
    bad = write_members(tmp_path / "other.zip", resign(read_members(path), OTHER_KEY))
    _refused(bad, marker, corn_arrays, "signed with another key \\(key id [0-9a-f]{16}; yours")
    # the same bundle checked with the other key is fine: it really is a key mismatch
    open_bundle(bad, key=OTHER_KEY)
    assert not marker.exists()


def test_a_re_signed_manifest_with_the_old_key_id_is_a_changed_manifest(evil, corn_arrays, tmp_path):
    path, marker = evil
    members = read_members(path)
    other = resign(members, OTHER_KEY)
    sig = json.loads(members["signature"])
    sig["mac"] = json.loads(other["signature"])["mac"]
    members["signature"] = json.dumps(sig).encode()
    bad = write_members(tmp_path / "forged.zip", members)
    _refused(bad, marker, corn_arrays, "the manifest was changed after signing")


def test_tampered_bundle_is_refused_even_when_unsigned_bundles_are_trusted(evil, corn_arrays, tmp_path):
    path, marker = evil
    members = read_members(path)
    del members["signature"]
    name = next(n for n in members if n.endswith(".pkl"))
    members[name] = members[name] + b"\x00"
    bad = write_members(tmp_path / "t.zip", members)
    _refused(bad, marker, corn_arrays, f"member '{name}' hashes to sha256", trust_unsigned=True)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (
            lambda m: [("../evil.txt", b"x"), *m.items()],
            r"member name '\.\./evil\.txt' is not a plain relative path",
        ),
        (
            lambda m: [("/etc/evil", b"x"), *m.items()],
            r"member name '/etc/evil' is not a plain relative path",
        ),
        (lambda m: [("a\\b", b"x"), *m.items()], r"member name 'a\\\\b' is not a plain relative path"),
        (
            lambda m: [("extra.txt", b"x"), *m.items()],
            r"member\(s\) \['extra.txt'\] are not listed in manifest",
        ),
        (lambda m: [*m.items(), ("bundle.json", m["bundle.json"])], "member 'bundle.json' appears twice"),
        (
            lambda m: [(k, v) for k, v in m.items() if k != "input.json"],
            r"\['input.json'\] listed in manifest",
        ),
        (lambda m: [(k, v) for k, v in m.items() if k != "manifest.sha256"], "no manifest.sha256 member"),
    ],
    ids=["dotdot", "absolute", "backslash", "unexpected", "duplicate", "missing", "no-manifest"],
)
def test_zip_hygiene(evil, corn_arrays, tmp_path, mutate, match):
    path, marker = evil
    members = read_members(path)
    bad = tmp_path / "hygiene.zip"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we add on purpose
        write_members(bad, mutate(members))
    _refused(bad, marker, corn_arrays, match)


def test_directories_and_links_are_refused(evil, corn_arrays, tmp_path):
    path, marker = evil
    members = read_members(path)
    bad = tmp_path / "link.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("plots/link.png")
        link.external_attr = (0o120777) << 16  # a symbolic link
        zf.writestr(link, "/etc/passwd")
    _refused(bad, marker, corn_arrays, "'plots/link.png' is not a regular file")
    with zipfile.ZipFile(tmp_path / "dir.zip", "w") as zf:
        zf.writestr("plots/", b"")
    _refused(
        tmp_path / "dir.zip", marker, corn_arrays, "'plots/' is not a plain relative path|not a regular file"
    )


@pytest.mark.parametrize(
    ("manifest", "match"),
    [
        (b"nonsense\n", "manifest.sha256 line 1 is 'nonsense'; expected '<64 hex>  <name>'"),
        ("é".encode(), "manifest.sha256 is not ASCII text"),
    ],
)
def test_malformed_manifest(evil, corn_arrays, tmp_path, manifest, match):
    path, marker = evil
    members = read_members(path)
    members["manifest.sha256"] = manifest
    _refused(write_members(tmp_path / "m.zip", members), marker, corn_arrays, match)


def test_unsorted_or_self_listing_manifest(evil, corn_arrays, tmp_path):
    path, marker = evil
    members = read_members(path)
    lines = members["manifest.sha256"].decode().splitlines(keepends=True)
    members["manifest.sha256"] = "".join(reversed(lines)).encode()
    _refused(write_members(tmp_path / "u.zip", members), marker, corn_arrays, "is not sorted by name")
    members["manifest.sha256"] = ("0" * 64 + "  manifest.sha256\n").encode()
    _refused(
        write_members(tmp_path / "s.zip", members),
        marker,
        corn_arrays,
        "lists 'manifest.sha256' again or lists itself",
    )


@pytest.mark.parametrize(
    ("signature", "match"),
    [
        (b"not json", "member 'signature' is malformed"),
        (json.dumps({"algorithm": "MD5", "mac": "00"}).encode(), "signature algorithm 'MD5'"),
    ],
)
def test_malformed_signature(evil, corn_arrays, tmp_path, signature, match):
    path, marker = evil
    members = read_members(path)
    members["signature"] = signature
    _refused(write_members(tmp_path / "sig.zip", members), marker, corn_arrays, match)


def test_not_a_zip_and_missing_file(tmp_path, corn_arrays):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(BundleIntegrityError, match="not a valid zip file"):
        open_bundle(junk, key=KEY)
    with pytest.raises(FileNotFoundError, match="no such bundle file"):
        open_bundle(tmp_path / "absent.zip", key=KEY)


def test_oversized_member_is_refused(evil, corn_arrays, tmp_path, monkeypatch):
    import nirs_core.store.bundle as bundle_module

    path, marker = evil
    monkeypatch.setattr(bundle_module, "MAX_MEMBER_BYTES", 100)
    _refused(path, marker, corn_arrays, "declares [0-9]+ bytes, over the 100-byte limit")


def test_member_size_differing_from_its_header_is_refused(evil, corn_arrays, tmp_path):
    path, marker = evil
    members = read_members(path)
    bad = tmp_path / "short.zip"
    with zipfile.ZipFile(bad, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    raw = bytearray(bad.read_bytes())
    # shrink the declared size in the central directory entry: the stored stream then holds more
    with zipfile.ZipFile(bad) as zf:
        cd = zf.start_dir
    while True:
        assert raw[cd : cd + 4] == b"PK\x01\x02"
        name_len = int.from_bytes(raw[cd + 28 : cd + 30], "little")
        if raw[cd + 46 : cd + 46 + name_len] == b"bundle.json":
            break
        extra = int.from_bytes(raw[cd + 30 : cd + 32], "little") + int.from_bytes(
            raw[cd + 32 : cd + 34], "little"
        )
        cd = cd + 46 + name_len + extra
    for field in (20, 24):  # compressed and uncompressed sizes
        size = int.from_bytes(raw[cd + field : cd + field + 4], "little")
        raw[cd + field : cd + field + 4] = (size - 1).to_bytes(4, "little")
    bad.write_bytes(bytes(raw))
    _refused(bad, marker, corn_arrays, "member 'bundle.json' (holds|cannot be read)|hashes to sha256")
