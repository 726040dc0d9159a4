"""Atomic writes: a killed writer leaves the old file or the new one, never a half file, and
``cleanup_partial`` removes what it left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from nirs_core.store import _atomic
from nirs_core.store._atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    atomic_write_yaml,
    cleanup_partial,
    is_partial_name,
)

SIZE = 4 * 1024 * 1024


def _no_temp(directory) -> bool:
    return not any(is_partial_name(p.name) for p in directory.rglob("*"))


def test_writers_round_trip_and_leave_no_temp(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "sub" / "b.txt", "héllo")
    atomic_write_yaml(tmp_path / "c.yaml", {"z": 1, "a": [1, 2]})
    atomic_write_json(tmp_path / "d.json", {"x": 1.5})
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_text(encoding="utf-8") == "héllo"
    text = (tmp_path / "c.yaml").read_text()
    assert yaml.safe_load(text) == {"z": 1, "a": [1, 2]}
    assert text.index("z:") < text.index("a:")  # insertion order kept
    assert json.loads((tmp_path / "d.json").read_text()) == {"x": 1.5}
    assert _no_temp(tmp_path)


def test_overwrite_replaces_whole_file(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "x" * 1000)
    atomic_write_text(target, "short")
    assert target.read_text() == "short"


def test_atomic_path_commits_on_success(tmp_path):
    target = tmp_path / "t.bin"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and is_partial_name(tmp.name)
        tmp.write_bytes(b"new")
        assert not target.exists()  # not visible before the block ends
    assert target.read_bytes() == b"new"
    assert _no_temp(tmp_path)


def test_atomic_path_failure_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert _no_temp(tmp_path)


def test_atomic_path_without_a_written_file_raises(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    with pytest.raises(FileNotFoundError, match=r"atomic_path\(.*t\.bin\): expected the caller to write"):
        with atomic_path(target):
            pass
    assert target.read_bytes() == b"old"


def test_cleanup_partial_keeps_temps_of_live_writers_unless_forced(tmp_path):
    mine = tmp_path / f".x.bin.tmp-{os.getpid()}-0123abcd"
    mine.write_bytes(b"in progress")
    ordinary = tmp_path / "x.bin.tmp"  # not our pattern
    ordinary.write_bytes(b"")
    assert cleanup_partial(tmp_path) == []
    assert cleanup_partial(tmp_path, force=True) == [mine]
    assert ordinary.exists()


def test_cleanup_partial_rejects_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(NotADirectoryError, match=r"cleanup_partial: expected a directory; got .*file"):
        cleanup_partial(f)


def test_is_partial_name():
    assert is_partial_name(".corn.parquet.tmp-123-deadbeef")
    assert not is_partial_name("corn.parquet")
    assert not is_partial_name(".corn.parquet.lock")
    assert not is_partial_name(".corn.parquet.tmp-123-xyz")


_WRITER = textwrap.dedent(
    """
    import sys, time
    from nirs_core.store._atomic import atomic_path, atomic_write_bytes
    target, size = sys.argv[1], int(sys.argv[2])
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    k = 1
    while True:
        k = k % 250 + 1
        if k % 2:
            atomic_write_bytes(target, bytes([k]) * size)
        else:
            with atomic_path(target) as tmp, open(tmp, "wb") as handle:
                for _ in range(size // 65536):  # slow writer: the kill lands mid-file
                    handle.write(bytes([k]) * 65536)
                    handle.flush()
                    time.sleep(0.0005)
    """
)


def _check_whole(path) -> int:
    data = path.read_bytes()
    assert len(data) == SIZE, f"{path}: {len(data)} bytes, a half file"
    assert data == bytes([data[0]]) * SIZE, "mixed content: a half-written file"
    return data[0]


def test_sigkill_mid_write_leaves_old_or_new_file(tmp_path):
    target = tmp_path / "data.bin"
    atomic_write_bytes(target, bytes([0]) * SIZE)
    seen_versions, strays = set(), 0
    for delay in (0.15, 0.3, 0.45, 0.6):
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target), str(SIZE)],
            stdout=subprocess.PIPE,
            cwd=os.getcwd(),
        )
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        seen_versions.add(_check_whole(target))
        removed = cleanup_partial(tmp_path)
        strays += len(removed)
        assert _no_temp(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]
    assert len(seen_versions) > 1, "the writer never replaced the file: the test proved nothing"
    assert strays >= 1, "no kill landed mid-write: the test proved nothing"


def _count_fsyncs(monkeypatch):
    calls = []
    real = _atomic.os.fsync
    monkeypatch.setattr(_atomic.os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    return calls


def test_synced_together_defers_fsyncs_to_one_flush_at_the_end(tmp_path, monkeypatch):
    fsyncs = _count_fsyncs(monkeypatch)
    flushed = []
    monkeypatch.setattr(_atomic, "_syncfs", lambda root: flushed.append(root) or True)
    with _atomic.synced_together(tmp_path):
        for i in range(5):
            atomic_write_bytes(tmp_path / "a" / f"{i}.bin", bytes([i]) * 10)
        with _atomic.synced_together(tmp_path):  # nested: joins the outer block
            atomic_write_text(tmp_path / "b.txt", "x")
        # atomic already: every file is whole and no temporary file is left
        assert (tmp_path / "a" / "3.bin").read_bytes() == bytes([3]) * 10
        assert not flushed and not fsyncs
    assert flushed == [tmp_path] and not fsyncs
    assert _no_temp(tmp_path)
    # outside a block every write fsyncs its file and its directory again
    atomic_write_text(tmp_path / "c.txt", "y")
    assert len(fsyncs) == 2


def test_synced_together_without_syncfs_fsyncs_each_file_and_directory(tmp_path, monkeypatch):
    fsyncs = _count_fsyncs(monkeypatch)
    monkeypatch.setattr(_atomic, "_syncfs", lambda root: False)
    with _atomic.synced_together(tmp_path):
        for i in range(3):
            atomic_write_bytes(tmp_path / "a" / f"{i}.bin", b"z")
        atomic_write_bytes(tmp_path / "b.bin", b"z")
    assert len(fsyncs) == 4 + 2  # four files, two directories


def test_syncfs_flushes_on_linux(tmp_path):
    if sys.platform != "linux":
        pytest.skip("syncfs(2) is Linux only; elsewhere synced_together fsyncs each file")
    assert _atomic._syncfs(tmp_path) is True
