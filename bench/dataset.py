"""Memory of a large SpectroDataset: build on disk, load memory-mapped, slice, read layouts.

    python bench/dataset.py [--rows 100000] [--features 2048] [--dir DIR]

Builds a rows × features float32 dataset on disk (in chunks, so building needs little
memory), then, in a fresh child process, loads it and prints the resident memory above the
interpreter's baseline after each step, as a multiple of the array's size:

- ``load``: memory-mapped, nothing is read yet;
- ``slice``: train/test selections and the ``2d``/``3d`` layouts are views, no copy;
- ``read``: every value is touched (a checksum): the pages are mapped from the page cache,
  so resident memory rises to about 1× the array and no further;
- baseline for comparison, measured in the same run: ``np.load`` without mmap (1×) and a
  fancy-index copy of the training rows on top (≈ 1.8×).

Peak resident memory is the child process's own high-water mark (``VmHWM`` in
``/proc/self/status``, Linux).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build(root: Path, rows: int, features: int) -> Path:
    """Write a dataset folder through SpectroDataset.save, chunk by chunk on a memory map."""
    import polars as pl

    from nirs_core.data import SpectroDataset

    small = SpectroDataset.from_arrays(
        np.zeros((rows, 1), dtype=np.float32),
        np.zeros(rows),
        wavelengths=np.array([1000.0]),
        partition=np.where(np.arange(rows) < int(rows * 0.8), "train", "test"),
        name="bench",
    )
    out = small.save(root / "bench_ds")
    # Replace the one-column source by the full array, written in chunks.
    arr = np.lib.format.open_memmap(
        out / "source_0.npy", mode="w+", dtype=np.float32, shape=(rows, 1, features)
    )
    wl = np.linspace(1000.0, 2500.0, features)
    rng = np.random.default_rng(0)
    step = 5000
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        base = np.sin(wl / 150.0)[None, :] + rng.normal(0, 0.01, size=(stop - start, features))
        arr[start:stop, 0, :] = base.astype(np.float32)
    arr.flush()
    del arr
    info = json.loads((out / "dataset.json").read_text())
    info["sources"][0]["axis"]["values"] = wl.tolist()
    (out / "dataset.json").write_text(json.dumps(info))
    _ = pl  # polars is imported by the dataset anyway
    return out


CHILD = r"""
import json, sys, time
import numpy as np, psutil
proc = psutil.Process()
def rss():
    return proc.memory_info().rss
from nirs_core.data import SpectroDataset
path, mode = sys.argv[1], sys.argv[2]
base = rss()
out = {}
t0 = time.perf_counter()
if mode == "mmap":
    ds = SpectroDataset.load(path)
    out["load_s"] = time.perf_counter() - t0
    out["load"] = rss() - base
    (train,) = ds.x({"partition": "train"})
    (test,) = ds.x({"partition": "test"})
    (two_d,) = ds.x(layout="2d")
    (three_d,) = ds.x(layout="3d")
    store = ds.features.sources[0].array
    out["views"] = all(np.shares_memory(a, store) for a in (train, test, two_d, three_d))
    out["slice"] = rss() - base
    total = float(train.sum(dtype=np.float64)) + float(test.sum(dtype=np.float64))
    total += float(three_d[:, 0, ::512].sum(dtype=np.float64))
    out["read"] = rss() - base
else:
    arr = np.load(path + "/source_0.npy")
    out["load_s"] = time.perf_counter() - t0
    out["load"] = rss() - base
    n = arr.shape[0]
    train = arr[np.arange(int(n * 0.8))]
    out["slice"] = rss() - base
    out["read"] = out["slice"]
# VmHWM is this process's own high-water mark (getrusage's ru_maxrss may carry the parent's
# peak across fork + exec on Linux, which would blame us for the build step's memory).
hwm_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
out["peak"] = hwm_kib * 1024 - base
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=2048)
    parser.add_argument("--dir", type=Path, default=None, help="where to build (default: a temporary folder)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="nirs-bench-", dir=args.dir))
    try:
        t0 = time.perf_counter()
        path = build(root, args.rows, args.features)
        size = args.rows * args.features * 4
        print(
            f"built {args.rows} × {args.features} float32 ({size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s"
        )
        # drop the page cache's claim on our own process: children start fresh
        results = {}
        for mode in ("mmap", "np.load+fancy copy"):
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(path), "mmap" if mode == "mmap" else "copy"],
                check=True,
                capture_output=True,
                text=True,
            )
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"\nresident memory above the interpreter's baseline, × array size ({size / 2**20:.0f} MiB)")
        print(f"{'approach':<22}{'load':>8}{'slice':>8}{'read':>8}{'peak':>8}{'load s':>9}")
        for mode, r in results.items():
            print(
                f"{mode:<22}{r['load'] / size:>8.3f}{r['slice'] / size:>8.3f}{r['read'] / size:>8.3f}"
                f"{r['peak'] / size:>8.3f}{r['load_s']:>9.3f}"
            )
        print(f"\nmmap: train/test/2d/3d are views of the stored array: {results['mmap']['views']}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
