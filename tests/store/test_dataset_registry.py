"""The datasets registry: identity by content, and each stage of path resolution (at its
path; moved, found by size, then quick hash, then full hash; missing) for files and folders."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import yaml
from conftest import shared_path

from nirs_core.errors import ConfigError
from nirs_core.store.registry import QUICK_HASH_BYTES, DatasetRegistry, content_size, full_hash, quick_hash

BIG = 3 * QUICK_HASH_BYTES  # larger than head + tail: the middle is outside the quick hash


def _bytes(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.fixture
def corn_copy(tmp_path):
    """The real corn folder, copied writable."""
    target = tmp_path / "data" / "corn"
    shutil.copytree(shared_path("corn"), target, copy_function=shutil.copyfile)
    return target


# ----------------------------------------------------------------------------- hashes


def test_hashes_of_a_file_against_hashlib(tmp_path):
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(b"abc")
    data = _bytes(BIG, 1)
    big.write_bytes(data)
    assert full_hash(big) == hashlib.sha256(data).hexdigest()
    assert quick_hash(small) == hashlib.sha256((3).to_bytes(8, "little") + b"abc").hexdigest()
    head_tail = len(data).to_bytes(8, "little") + data[:QUICK_HASH_BYTES] + data[-QUICK_HASH_BYTES:]
    assert quick_hash(big) == hashlib.sha256(head_tail).hexdigest()
    assert content_size(big) == BIG


def test_folder_hash_covers_names_and_content_not_dotfiles(tmp_path):
    a = tmp_path / "a"
    (a / "sub").mkdir(parents=True)
    (a / "x.csv").write_text("1;2")
    (a / "sub" / "y.csv").write_text("3")
    before = (full_hash(a), quick_hash(a), content_size(a))
    (a / ".DS_Store").write_text("junk")
    assert (full_hash(a), quick_hash(a), content_size(a)) == before
    (a / "x.csv").rename(a / "z.csv")
    assert full_hash(a) != before[0] and quick_hash(a) != before[1]


# ----------------------------------------------------------------------------- register


def test_register_file_and_get(tmp_path):
    f = tmp_path / "wheat.csv"
    f.write_bytes(_bytes(1000, 2))
    reg = DatasetRegistry(tmp_path)
    entry = reg.register(f)
    assert entry.name == "wheat" and entry.kind == "file" and entry.size == 1000 and entry.status == "active"
    assert entry.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    assert reg.get("wheat") == entry == reg.get(entry.sha256[:10])
    assert "wheat" in reg and len(reg) == 1 and list(reg) == [entry]
    on_disk = yaml.safe_load((tmp_path / "datasets.yaml").read_text())
    assert on_disk["version"] == 1 and on_disk["datasets"][0]["sha256"] == entry.sha256
    assert reg.register(f) == entry  # idempotent
    assert reg.remove("wheat") == entry and len(reg) == 0


def test_register_same_content_from_new_path_updates_it(tmp_path):
    f = tmp_path / "a" / "wheat.csv"
    f.parent.mkdir()
    f.write_bytes(b"spectra")
    reg = DatasetRegistry(tmp_path)
    reg.register(f)
    g = tmp_path / "b.csv"
    shutil.move(f, g)
    entry = reg.register(g)
    assert (
        entry.name == "wheat"
        and entry.path == str(g.resolve())
        and entry.previous_paths == [str(f.resolve())]
    )


def test_register_errors(tmp_path):
    reg = DatasetRegistry(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"cannot register .*nope\.csv: no such file or folder"):
        reg.register(tmp_path / "nope.csv")
    f, g = tmp_path / "a.csv", tmp_path / "b.csv"
    f.write_text("1")
    g.write_text("2")
    with pytest.raises(ConfigError, match=r"dataset name must match .*; got 'bad name'"):
        reg.register(f, name="bad name")
    reg.register(f, name="corn")
    with pytest.raises(
        ConfigError, match=r"dataset name 'corn' is registered for other content .*; got .*b\.csv"
    ):
        reg.register(g, name="corn")
    with pytest.raises(
        ConfigError, match=r"a\.csv \(sha256 .*\) is already registered as 'corn'; got the name 'maize'"
    ):
        reg.register(f, name="maize")
    with pytest.raises(KeyError, match=r"no dataset named 'wheat' .*registered: \['corn'\]"):
        reg.get("wheat")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("datasets: [unclosed", r"datasets\.yaml: not valid YAML"),
        ("- 1\n- 2\n", r"expected a mapping with a 'datasets' list; got list"),
        ("datasets:\n  - {name: x}\n", r"datasets\[0\]: malformed entry"),
    ],
)
def test_corrupt_registry_file(tmp_path, text, match):
    (tmp_path / "datasets.yaml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        DatasetRegistry(tmp_path).entries()


# ----------------------------------------------------------------------------- resolution


def test_found_at_its_path(tmp_path):
    f = tmp_path / "d.bin"
    f.write_bytes(_bytes(BIG, 3))
    reg = DatasetRegistry(tmp_path)
    reg.register(f, name="d")
    res = reg.resolve("d")
    assert res.stage == "found" and res.found and res.path == f.resolve() and res.entry.status == "active"


def test_moved_file_found_by_size_then_quick_hash_then_full_hash(tmp_path):
    data = _bytes(BIG, 4)
    original = tmp_path / "lab" / "d.bin"
    original.parent.mkdir()
    original.write_bytes(data)
    reg = DatasetRegistry(tmp_path)
    reg.register(original, name="d")
    archive = tmp_path / "archive"
    (archive / "deep").mkdir(parents=True)
    # decoys: another size; same size but another head (quick hash differs); same size, head
    # and tail but another middle (only the full hash tells it apart)
    (archive / "a_other_size.bin").write_bytes(data[:-1])
    (archive / "b_other_head.bin").write_bytes(b"\xff" + data[1:])
    middle = bytearray(data)
    middle[BIG // 2] ^= 0xFF
    (archive / "c_other_middle.bin").write_bytes(bytes(middle))
    shutil.move(original, archive / "deep" / "renamed.bin")
    res = reg.resolve("d", candidates=[tmp_path / "nowhere", archive])
    assert res.stage == "moved" and res.path == (archive / "deep" / "renamed.bin").resolve()
    assert "3 of the same size, 2 of the same quick hash, sha256 equal" in res.detail
    entry = reg.get("d")
    assert entry.path == str(res.path) and entry.status == "moved"
    assert entry.previous_paths == [str(original.resolve())]
    assert reg.resolve("d").stage == "found" and reg.get("d").status == "active"


def test_decoys_only_means_missing(tmp_path):
    data = _bytes(BIG, 5)
    f = tmp_path / "d.bin"
    f.write_bytes(data)
    reg = DatasetRegistry(tmp_path)
    reg.register(f, name="d")
    other = tmp_path / "other"
    other.mkdir()
    middle = bytearray(data)
    middle[BIG // 2] ^= 0xFF
    (other / "same_head_and_tail.bin").write_bytes(bytes(middle))
    f.unlink()
    res = reg.resolve("d", candidates=[other])
    assert res.stage == "missing" and res.path is None and not res.found
    assert "does not exist" in res.detail and str(other) in res.detail
    assert reg.get("d").status == "missing"


def test_modified_file_is_not_matched(tmp_path):
    f = tmp_path / "d.bin"
    f.write_bytes(_bytes(1000, 6))
    reg = DatasetRegistry(tmp_path)
    reg.register(f, name="d")
    f.write_bytes(b"\x00" + f.read_bytes()[1:])  # same size, edited
    res = reg.resolve("d", candidates=[tmp_path])
    assert res.stage == "missing"
    assert "right size but another quick hash (modified)" in res.detail
    f.write_bytes(f.read_bytes() + b"more")
    assert "has 1004 bytes, expected 1000" in reg.resolve("d").detail


def test_edit_in_the_middle_needs_verify(tmp_path):
    data = bytearray(_bytes(BIG, 8))
    f = tmp_path / "d.bin"
    f.write_bytes(bytes(data))
    reg = DatasetRegistry(tmp_path)
    reg.register(f, name="d")
    data[BIG // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    assert reg.resolve("d").stage == "found"  # the quick check cannot see the middle
    res = reg.resolve("d", verify=True)
    assert res.stage == "missing" and "right size and quick hash but another sha256" in res.detail


def test_folder_dataset_moved_and_modified(tmp_path, corn_copy):
    reg = DatasetRegistry(tmp_path)
    entry = reg.register(corn_copy)
    assert entry.name == "corn" and entry.kind == "folder"
    assert entry.size == sum(p.stat().st_size for p in corn_copy.iterdir())
    moved = tmp_path / "elsewhere" / "maize_2024"
    moved.parent.mkdir()
    (moved.parent / "unrelated").mkdir()
    (moved.parent / "unrelated" / "x.csv").write_text("1")
    shutil.move(corn_copy, moved)
    res = reg.resolve("corn", candidates=[tmp_path / "elsewhere"])
    assert res.stage == "moved" and res.path == moved.resolve()
    (moved / "Yval.csv").write_text((moved / "Yval.csv").read_text().replace("1", "2", 1))
    res = reg.resolve("corn", candidates=[tmp_path])
    assert res.stage == "missing" and "modified" in res.detail


def test_kind_mismatch_and_bad_candidate(tmp_path):
    f = tmp_path / "d"
    f.write_text("x")
    reg = DatasetRegistry(tmp_path)
    reg.register(f, name="d")
    f.unlink()
    f.mkdir()
    res = reg.resolve("d", candidates=[tmp_path / "file.txt"])
    assert "is a folder, expected a file" in res.detail and "(not a directory)" in res.detail


def test_concurrent_registrations_lose_nothing(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    files = []
    for i in range(20):
        f = tmp_path / "in" / f"d{i:02d}.csv"
        f.parent.mkdir(exist_ok=True)
        f.write_text(f"{i};{i * i}\n")
        files.append(f)
    reg = DatasetRegistry(tmp_path)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(reg.register, files))
    assert [e.name for e in reg.entries()] == [f.stem for f in files]
