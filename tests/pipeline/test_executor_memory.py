"""The executor's peak memory: a component sweep (3 preprocessings × PLS sizes, 5-fold) stays
under 3× the dataset's spectra above the interpreter's baseline, and the preprocessing cache
stays under its bound.

Measured in a fresh interpreter (the test process's own high-water mark is meaningless): the
child imports everything and warms up on a tiny dataset, resets its high-water mark
(``/proc/self/clear_refs``), reads its resident size, builds the dataset block by block, runs
the sweep and reports ``VmHWM``. Linux only. A property of the executor, not a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")

CHILD = textwrap.dedent(
    """
    import gc, json, sys
    import numpy as np
    from nirs_core.data import SpectroDataset
    from nirs_core.pipeline.executor import PreprocessingCache, execute_batch
    from nirs_core.pipeline.generators import expand

    def status(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))

    n, p, bound = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    template = {"pipeline": [
        {"split": {"class": "sklearn.model_selection.KFold",
                   "params": {"n_splits": 5, "shuffle": True, "random_state": 0}}},
        {"_or_": ["SNV", {"class": "SavitzkyGolay",
                          "params": {"window_length": 15, "polyorder": 2, "deriv": 1}}, "MSC"]},
        {"model": {"class": "PLS", "params": {"scale": False}}, "param": "n_components",
         "_range_": [2, 10, 4]},
    ]}
    configs = expand(template)
    rng = np.random.default_rng(0)
    tiny = np.cumsum(rng.normal(size=(40, 60)), axis=1)
    execute_batch(configs, SpectroDataset.from_arrays(tiny, tiny[:, 5], partition=["train"] * 32 + ["test"] * 8))
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        print(json.dumps({"skip": "/proc/self/clear_refs is not writable"}))
        sys.exit(0)
    baseline = status("VmRSS")
    wl = np.linspace(1100.0, 2500.0, p)
    X = np.empty((n, p))
    for start in range(0, n, 500):
        stop = min(start + 500, n)
        X[start:stop] = np.sin(wl / 100.0) * rng.uniform(0.8, 1.2, (stop - start, 1))
        X[start:stop] += rng.normal(0.0, 0.01, (stop - start, p))
    y = 3.0 * X[:, 100] + rng.normal(0.0, 0.01, n)
    part = np.where(np.arange(n) < int(0.8 * n), "train", "test")
    ds = SpectroDataset.from_arrays(X, y, wavelengths=wl, partition=part)
    del X
    gc.collect()
    cache = PreprocessingCache() if bound == "default" else PreprocessingCache(max_bytes=int(bound))
    results = execute_batch(configs, ds, cache=cache)
    print(json.dumps({
        "peak": status("VmHWM") - baseline,
        "spectra": n * p * 8,
        "results": len(results),
        "cache": cache.stats(),
    }))
    """
)


def _measure(n: int, p: int, bound: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(p), bound], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if "skip" in out:
        pytest.skip(out["skip"])
    return out


@pytest.mark.parametrize("bound", ["default", str(2**20)])
def test_sweep_peak_stays_under_three_times_the_spectra(bound):
    # 2500 × 2000 float64 (40 MB): large enough for the interpreter's own noise to be small,
    # above the size the default bound computes stateless operators on every row for
    m = _measure(2500, 2000, bound)
    assert m["results"] == 9
    ratio = m["peak"] / m["spectra"]
    assert ratio < 3.0, f"peak {ratio:.2f}× the spectra above the baseline (cache {m['cache']})"
    assert m["cache"]["peak_bytes"] <= m["cache"]["max_bytes"]
