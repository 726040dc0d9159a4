"""The model registry's files (nirs_core.store.models): version numbers, bytes and hashes, the
alias stack, errors that name what exists, no lost version under concurrent writers (threads
and processes) and a consistent registry after a SIGKILL in the middle of registrations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from hashlib import sha256

import pytest

from nirs_core.errors import ConfigError
from nirs_core.store.models import HistoryEntry, ModelNotFoundError, ModelRegistry


def _fields(i: int = 0) -> dict:
    return {
        "created_at": f"2026-01-01T00:00:{i:02d}+00:00",
        "metric": "rmse",
        "scores": {"cv": 0.1 + i, "test": None},
    }


def test_versions_are_numbered_and_keep_their_bytes(tmp_path):
    registry = ModelRegistry(tmp_path)
    blobs = [b"first bundle", b"second bundle" * 100]
    versions = [registry.add_version("corn", blob, _fields(i)) for i, blob in enumerate(blobs)]
    assert [v.version for v in versions] == [1, 2]
    record = registry.read("corn")
    for blob, v in zip(blobs, record.versions):
        assert registry.bundle_path(v).read_bytes() == blob
        assert v.sha256 == sha256(blob).hexdigest()
    assert record.version(2).scores == {"cv": 1.1, "test": None}
    assert registry.names() == ["corn"]
    assert registry.check("corn") == []


def test_check_names_missing_and_changed_bundles(tmp_path):
    registry = ModelRegistry(tmp_path)
    one = registry.add_version("m", b"one", _fields())
    two = registry.add_version("m", b"two", _fields())
    registry.bundle_path(one).unlink()
    registry.bundle_path(two).write_bytes(b"tampered")
    problems = registry.check("m")
    assert problems[0].startswith("version 1: bundle models/m/versions/1.zip is missing")
    assert problems[1].startswith("version 2: bundle models/m/versions/2.zip does not hash to")


def test_errors_name_what_exists(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.add_version("corn", b"x", _fields())
    with pytest.raises(ModelNotFoundError, match=r"no model named 'wheat'; registered: \['corn'\]"):
        registry.read("wheat")
    with pytest.raises(ModelNotFoundError, match=r"no model named 'wheat'"):
        with registry.transaction("wheat"):
            pass
    with pytest.raises(ModelNotFoundError, match=r"model 'corn': no version 7; registered: \[1\]"):
        registry.read("corn").version(7)
    with pytest.raises(ConfigError, match=r"model name must match .*got 'bad/name'"):
        registry.read("bad/name")
    with pytest.raises(ConfigError, match=r"unexpected or reserved field\(s\) \['sha256', 'wrong'\]"):
        registry.add_version("corn", b"x", {**_fields(), "wrong": 1, "sha256": "0"})
    with pytest.raises(ConfigError, match=r"'created_at' \(the bundle's\) is required"):
        registry.add_version("corn", b"x", {"metric": "rmse"})


def test_malformed_record_is_one_clear_error(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.add_version("corn", b"x", _fields())
    path = registry.record_path("corn")
    path.write_text("format: [unclosed\n")
    with pytest.raises(ConfigError, match=r"model\.yaml: not valid YAML"):
        registry.read("corn")
    path.write_text("format: something/else\n")
    with pytest.raises(
        ConfigError, match=r"expected a model record of format 'nirs.models/1'; got 'something/else'"
    ):
        registry.read("corn")
    path.write_text("format: nirs.models/1\nversions:\n- {version: 1, bogus: 2}\n")
    with pytest.raises(ConfigError, match=r"malformed model record"):
        registry.read("corn")


def test_an_exception_inside_a_transaction_leaves_the_record_unchanged(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.add_version("corn", b"x", _fields())
    before = registry.record_path("corn").read_bytes()
    with pytest.raises(RuntimeError, match="abandon"):
        with registry.transaction("corn") as record:
            record.aliases["champion"] = 1
            raise RuntimeError("abandon")
    assert registry.record_path("corn").read_bytes() == before


def test_alias_holders_are_a_stack_of_promotions_and_rollbacks(tmp_path):
    registry = ModelRegistry(tmp_path)
    for _ in range(3):
        registry.add_version("corn", b"x", _fields())
    with registry.transaction("corn") as record:
        for action, to in (("promote", 1), ("promote", 2), ("promote", 3), ("rollback", 2)):
            record.history.append(HistoryEntry("t", "me", action, "champion", None, to))
        record.history.append(HistoryEntry("t", "me", "promote", "staging", None, 3))
    record = registry.read("corn")
    assert record.holders("champion") == [1, 2]
    assert record.holders("staging") == [3]
    assert record.holders("nobody") == []


def test_threads_registering_at_once_lose_no_version(tmp_path):
    registry = ModelRegistry(tmp_path)
    blobs = [f"bundle {i}".encode() for i in range(8)]
    threads = [threading.Thread(target=registry.add_version, args=("corn", b, _fields())) for b in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    record = registry.read("corn")
    assert sorted(v.version for v in record.versions) == list(range(1, 9))
    assert sorted(registry.bundle_path(v).read_bytes() for v in record.versions) == sorted(blobs)
    assert registry.check("corn") == []


_LOOP = textwrap.dedent(
    """
    import sys
    from nirs_core.store.models import ModelRegistry
    registry = ModelRegistry(sys.argv[1])
    i = 0
    while True:
        i += 1
        registry.add_version("corn", (b"%d " % i) * 20000, {"created_at": "2026-01-01T00:00:00+00:00"})
        print(i, flush=True)
    """
)


def test_a_registry_killed_mid_write_reads_back_consistent(tmp_path):
    """A writer registering in a loop is SIGKILLed at several moments; after each kill every
    listed version has its bundle with its sha256, versions are 1..n, and the next
    registration works (the OS released the lock)."""
    registry = ModelRegistry(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for delay in (0.6, 0.9, 1.3):
        proc = subprocess.Popen([sys.executable, "-c", _LOOP, str(tmp_path)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline()  # it registered at least once and is looping
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        record = registry.read("corn")
        assert [v.version for v in record.versions] == list(range(1, len(record.versions) + 1))
        assert registry.check("corn") == []
    after = registry.add_version("corn", b"after the kills", _fields())
    assert after.version == len(registry.read("corn").versions)
    assert registry.check("corn") == []
