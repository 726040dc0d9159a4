"""The 15-config sweep against nirs4all and a plain scikit-learn loop, measured in one run.

    python bench/sweep.py [--dataset PATH] [--samples N] [--keep-venv DIR] [--cache-mb N]
                          [--tile-rows N] [--repeats N] [--skip-memory]

The sweep: SNV, SavitzkyGolay(15, 2, deriv 1) or MSC, then PLSRegression(scale=False) with
n_components 2, 6, 10, 14, 18, each config cross-validated on KFold(5, shuffle=True,
random_state=0) of the calibration rows and refit on all of them to predict the test rows.
The dataset defaults to ``../shared/data/corn`` beside the repository (skipped with a message
when absent).
``--samples N`` (default 430: a real-size set of a few hundred spectra) runs on its
calibration spectra repeated with noise to ``N`` minus its test rows, written as a folder
like it (``--samples 0``: the dataset as it is). The sweep is run twice, with the project's
``PLS`` and with ``sklearn.cross_decomposition.PLSRegression`` (which the engine fits on the
same kernel: :mod:`nirs_core.pipeline.sklearn_fast`), each against nirs4all in the same run.

nirs4all 1.4.10 is installed by this script into its own virtual environment (a temporary
folder, or ``--keep-venv DIR``, reused when it already holds that version) with ``pip``;
nothing of it enters the project's environment. ``bench/_nirs4all_sweep.py`` runs there and
reports its timings as JSON. When the install or the run fails, the nirs4all columns say so
and the rest is still measured.

Printed, every ratio from timings of this run (best of ``--repeats`` after a warm-up; two
cores shared with other work make single timings noisy):

1. **In process**, imports excluded, warm: ``nirs_core.run`` (load the folder, run the 15
   configs, write the workspace) against ``nirs4all.run`` doing the same (timed inside a warm
   interpreter of the nirs4all environment, ``_nirs4all_sweep.py --serve``, whose runs are
   interleaved with ours round by round; its workspace and the refit of the config it selects
   included); the
   engine alone (``execute_batch`` on the loaded dataset, nothing written) against a plain
   scikit-learn loop over the same arrays (numpy SNV/MSC, scipy ``savgol_filter``, one
   ``PLSRegression(scale=False)`` fit per config per fold plus a refit per config).
   Targets: ≥ 20× faster than nirs4all, faster than the scikit-learn loop.
2. **Whole processes**, imports included: ``nirs run TEMPLATE --data PATH --json`` against
   ``python bench/_nirs4all_sweep.py`` (import nirs4all, one run), both from compiled bytecode
   (``compileall`` of ``nirs_core`` first, as pip compiles nirs4all when it installs it). Target
   ≥ 10×.
3. **Peak memory** of the engine's sweep (``execute_batch``) in a child process: the child
   imports everything and warms up on a tiny dataset, resets its high-water mark
   (``/proc/self/clear_refs``), reads its resident memory (the baseline), then loads or builds
   the dataset and runs the sweep; the peak is ``VmHWM`` from ``/proc/self/status`` (or the
   largest RSS a 2 ms sampling thread saw, if larger). Printed
   above the baseline, as a multiple of the dataset's spectra (all rows, float64), with the
   default cache bound and with ``--cache-mb``. On the real dataset the interpreter's own
   overheads dominate, so the same is measured on its calibration spectra tiled to
   ``--tile-rows`` rows with noise. Target: < 3× the spectra above the baseline.
4. **RMSECV** of the best config of each tool, side by side, and the largest per-config
   difference, with whether nirs4all's validation folds equal scikit-learn's KFold ones.

Linux only (``/proc``). Nothing is asserted: read the table.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _nirs4all_env import install_nirs4all, tail  # noqa: E402
from _tiled import tiled_dataset  # noqa: E402

N4A_SCRIPT = REPO / "bench" / "_nirs4all_sweep.py"
DEFAULT_DATASET = REPO.parent / "shared" / "data" / "corn"
N_SPLITS, RANDOM_STATE = 5, 0
N_COMPONENTS = [2, 6, 10, 14, 18]
PREPROCESSINGS = ["SNV", "SG(15,2,d1)", "MSC"]
SHORT = {
    "StandardNormalVariate": "SNV",
    "SavitzkyGolay": "SG(15,2,d1)",
    "MultiplicativeScatterCorrection": "MSC",
}
TEMPLATE = """\
# written by bench/sweep.py: 3 preprocessings x 5 PLS sizes = 15 configs, 5-fold CV
name: bench_sweep
pipeline:
  - split:
      class: sklearn.model_selection.KFold
      params: {n_splits: 5, shuffle: true, random_state: 0}
  - _or_:
      - SNV
      - class: SavitzkyGolay
        params: {window_length: 15, polyorder: 2, deriv: 1}
      - MSC
  - model:
      class: PLS
      params: {scale: false}
    param: n_components
    _range_: [2, 18, 4]
"""
TEMPLATE_SK = TEMPLATE.replace("name: bench_sweep", "name: bench_sweep_sklearn").replace(
    "class: PLS\n", "class: sklearn.cross_decomposition.PLSRegression\n"
)
assert TEMPLATE_SK != TEMPLATE
N4A_TIMEOUT = 300


# --------------------------------------------------------------------------------- helpers


def best_of(funcs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time of each function over ``repeats`` interleaved rounds, after one warm-up
    round, so that load from other processes hits every contender alike."""
    best = {}
    for name, func in funcs.items():
        func()
        best[name] = float("inf")
    for _ in range(repeats):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def label(steps: list) -> tuple[str, int]:
    """(preprocessing, n_components) of one of our concrete configs."""
    prep, n_components = "?", -1
    for step in steps:
        if "model" in step:
            n_components = int(step["model"]["params"]["n_components"])
        elif "class" in step:
            prep = SHORT.get(step["class"].rsplit(".", 1)[-1], step["class"])
    return prep, n_components


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def verdict(value: float | None, ok: bool) -> str:
    return "" if value is None else ("met" if ok else "NOT met")


# ----------------------------------------------------------------- the scikit-learn loop


def snv(X: np.ndarray) -> np.ndarray:
    centred = X - X.mean(axis=1, keepdims=True)
    return centred / centred.std(axis=1, keepdims=True)


def msc(X: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Least squares ``x = a + b * reference`` per row, then ``(x - a) / b``."""
    ref_c = reference - reference.mean()
    slope = (X - X.mean(axis=1, keepdims=True)) @ ref_c / (ref_c @ ref_c)
    intercept = X.mean(axis=1) - slope * reference.mean()
    return (X - intercept[:, None]) / slope[:, None]


def preprocess(name: str, fit_rows: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """The preprocessing ``name`` fit on ``fit_rows`` (MSC's reference is their mean) and
    applied to them and to ``others``."""
    from scipy.signal import savgol_filter

    if name == "SNV":
        return [snv(X) for X in (fit_rows, *others)]
    if name == "SG(15,2,d1)":
        return [savgol_filter(X, 15, 2, deriv=1, axis=1) for X in (fit_rows, *others)]
    reference = fit_rows.mean(axis=0)
    return [msc(X, reference) for X in (fit_rows, *others)]


def sklearn_sweep(Xcal, ycal, Xtest, ytest) -> dict[tuple[str, int], dict[str, float]]:
    """The plain loop: per config, per fold, preprocess and fit; then refit on all rows."""
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.model_selection import KFold

    folds = list(KFold(N_SPLITS, shuffle=True, random_state=RANDOM_STATE).split(Xcal))
    scores = {}
    for prep in PREPROCESSINGS:
        for n_components in N_COMPONENTS:
            oof = np.empty_like(ycal)
            for train, val in folds:
                A, B = preprocess(prep, Xcal[train], Xcal[val])
                model = PLSRegression(n_components=n_components, scale=False).fit(A, ycal[train])
                oof[val] = model.predict(B).ravel()
            A, B = preprocess(prep, Xcal, Xtest)
            pred = PLSRegression(n_components=n_components, scale=False).fit(A, ycal).predict(B).ravel()
            scores[prep, n_components] = {
                "rmsecv": float(np.sqrt(np.mean((oof - ycal) ** 2))),
                "rmsep": float(np.sqrt(np.mean((pred - ytest) ** 2))) if len(ytest) else float("nan"),
            }
    return scores


# ------------------------------------------------------------------------------ nirs4all


class Nirs4allServer:
    """bench/_nirs4all_sweep.py --serve in the nirs4all environment: one warm interpreter that
    runs the sweep on request, so its runs interleave with ours. Its stderr goes to ``log``."""

    def __init__(self, python: Path, dataset: Path, workspace: Path, log: Path) -> None:
        workspace.mkdir(parents=True, exist_ok=True)
        self.log = log
        self._stderr = open(log, "w")  # closed by close()
        cmd = [
            str(python),
            str(N4A_SCRIPT),
            "--dataset",
            str(dataset),
            "--workspace",
            str(workspace),
            "--serve",
        ]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True, cwd=workspace
        )
        self.import_s = float(self._request(None)["import_s"])
        self.run_s: list[float] = []

    def _request(self, command: str | None) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise RuntimeError(
                f"the nirs4all sweep exited (status {self.proc.returncode}):\n{tail(self.log.read_text())}"
            )
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the nirs4all sweep answered: {answer['error']}")
        return answer

    def run(self) -> float:
        self.run_s.append(float(self._request("run")["run_s"]))
        return self.run_s[-1]

    def report(self) -> dict:
        return self._request("report")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


# -------------------------------------------------------------------------------- memory


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> bool:
    """Reset VmHWM to the current resident size (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class _RssSampler:
    """The largest resident size seen by a thread reading ``/proc/self/statm`` every 2 ms.
    The kernel updates ``VmHWM`` lazily after a reset (a peak freed without an unmap can be
    missed), so the reported peak is the larger of the two."""

    def __init__(self) -> None:
        import threading

        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with open("/proc/self/statm") as f:
            while not self._stop.is_set():
                f.seek(0)
                self.peak = max(self.peak, int(f.read().split()[1]) * self.page)
                self._stop.wait(0.002)

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _tiny_dataset():
    from nirs_core.data import SpectroDataset

    rng = np.random.default_rng(1)
    X = np.cumsum(rng.normal(size=(40, 60)), axis=1) + 10.0
    part = ["train"] * 32 + ["test"] * 8
    return SpectroDataset.from_arrays(X, X[:, 5] - X[:, 40], partition=part, name="warmup")


def memory_child(spec: dict) -> None:
    """Runs in a fresh interpreter: prints one JSON line of resident-memory figures."""
    from nirs_core.data import load
    from nirs_core.pipeline.cache import PreprocessingCache
    from nirs_core.pipeline.executor import execute_batch
    from nirs_core.pipeline.generators import expand, load_template

    configs = expand(load_template(spec["template"]))
    # warm-up: every lazy import of the loader and the engine happens before the baseline
    # (the loaded seed stays alive, so the measured load cannot reuse its freed memory)
    seed = load(spec["dataset"])
    execute_batch(configs, _tiny_dataset(), cache=PreprocessingCache())
    gc.collect()
    sampler = _RssSampler()
    with sampler:
        reset = _reset_peak()
        baseline = _status_kb("VmRSS")
        ds = tiled_dataset(seed, spec["tile_rows"]) if spec["tile_rows"] else load(spec["dataset"])
        gc.collect()
        spectra = ds.x(src_concat=True)[0]
        dataset_bytes, shape = int(spectra.nbytes), list(spectra.shape)
        del spectra
        with_data = _status_kb("VmRSS")
        cache = PreprocessingCache(max_bytes=spec["cache_bytes"])
        start = time.perf_counter()
        results = execute_batch(configs, ds, cache=cache)
        elapsed = time.perf_counter() - start
    peak = max(_status_kb("VmHWM"), sampler.peak, with_data)
    print(
        json.dumps(
            {
                "baseline": baseline,
                "with_data": with_data,
                "peak": peak,
                "peak_reset": reset,
                "dataset_bytes": dataset_bytes,
                "shape": shape,
                "cache": cache.stats(),
                "seconds": elapsed,
                "results": len(results),
            }
        )
    )


def measure_memory(dataset: Path, template: Path, tile_rows: int, cache_bytes: int) -> dict:
    spec = {"dataset": str(dataset), "template": str(template), "tile_rows": tile_rows,
            "cache_bytes": cache_bytes}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, __file__, "--memory-child", json.dumps(spec)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"error": tail(proc.stderr)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _memory_section(args, dataset: Path, template: Path) -> None:
    from nirs_core.pipeline.cache import PreprocessingCache

    print("\n3. Peak memory of the engine's sweep (execute_batch), child process: peak RSS (VmHWM, and a 2 ms "
          "sampler) above the RSS after imports")  # fmt: skip
    print(f"   {'dataset':<22} {'spectra':>9} {'cache bound':>11} {'peak-base':>10} {'× spectra':>9} "
          f"{'sweep only':>10} {'× spectra':>9} {'cache peak':>10} {'hit/miss/evict':>15} {'time':>8}  target < 3×")  # fmt: skip
    small = int(args.cache_mb * 2**20)
    default_bytes = PreprocessingCache().max_bytes
    cases = [(0, default_bytes), (0, small), (args.tile_rows, default_bytes), (args.tile_rows, small)]
    reset_ok = True
    for rows_, bound in cases:
        m = measure_memory(dataset, template, rows_, bound)
        name = f"{dataset.name} tiled" if rows_ else dataset.name
        if "error" in m:
            print(f"   {name:<22} failed:\n{m['error']}")
            continue
        reset_ok &= m["peak_reset"]
        shape = f"{m['shape'][0]}×{m['shape'][1]}"
        above = m["peak"] - m["baseline"]
        sweep = m["peak"] - m["with_data"]
        c = m["cache"]
        ratio = above / m["dataset_bytes"]
        print(f"   {name + ' ' + shape:<22} {fmt_bytes(m['dataset_bytes']):>9} {fmt_bytes(bound):>11} "
              f"{fmt_bytes(above):>10} {ratio:>8.1f}× {fmt_bytes(sweep):>10} "
              f"{sweep / m['dataset_bytes']:>8.1f}× {fmt_bytes(c['peak_bytes']):>10} "
              f"{str(c['hits']) + '/' + str(c['misses']) + '/' + str(c['evictions']):>15} {fmt_s(m['seconds']):>8}  "
              f"{verdict(ratio, ratio < 3)}")  # fmt: skip
    print("   peak-base: the sweep's peak above the interpreter's RSS after imports (dataset included);")
    print(
        "   sweep only: above the RSS once the dataset is loaded; cache peak: largest bytes the cache held."
    )
    if not reset_ok:
        print("   (/proc/self/clear_refs was not writable: the peak includes the imports' own peak)")


def _scores_section(run_result, run_result_sk, sk_scores, n4a, Xcal) -> None:
    # 4. sanity: RMSECV
    ours_scores, ours_scores_sk = {}, {}
    for r in run_result.results:
        ours_scores[label(r["config"])] = {"rmsecv": r["cv_score"], "rmsep": r["test_score"]}
    for r in run_result_sk.results:
        ours_scores_sk[label(r["config"])] = {"rmsecv": r["cv_score"], "rmsep": r["test_score"]}
    n4a_scores = {}
    if n4a:
        for c in n4a["configs"]:
            n4a_scores[c["preprocessing"], c["n_components"]] = {"rmsecv": c["rmsecv"]}

    def best(scores):
        key = min(scores, key=lambda k: scores[k]["rmsecv"])
        return key, scores[key]

    print("\n4. RMSECV (pooled out-of-fold RMSE) of each tool's best config")
    print(f"   {'tool':<40} {'best config':<20} {'RMSECV':>10} {'RMSEP':>10}")
    for tool, scores in (
        ("nirs_core", ours_scores),
        ("nirs_core, sklearn PLSRegression", ours_scores_sk),
        ("scikit-learn loop", sk_scores),
    ):
        (prep, nc), s = best(scores)
        rmsep = "-" if s.get("rmsep") is None else f"{s['rmsep']:.6f}"
        print(f"   {tool:<40} {prep + f' PLS-{nc}':<20} {s['rmsecv']:>10.6f} {rmsep:>10}")
    if n4a_scores:
        (prep, nc), s = best(n4a_scores)
        sel = n4a["selected"] or {}
        print(f"   {'nirs4all (from its out-of-fold entries)':<40} {prep + f' PLS-{nc}':<20} {s['rmsecv']:>10.6f} "
              f"{sel.get('rmsep', float('nan')):>10.6f}")  # fmt: skip
        if sel:
            chosen = f"{sel.get('preprocessing')} PLS-{sel.get('n_components')}"
            print(f"   {'nirs4all (its refit selection, reported)':<40} {chosen:<20} "
                  f"{sel['reported_rmsecv']:>10.6f} {sel['rmsep']:>10.6f}")  # fmt: skip
    others = (
        ("scikit-learn loop", sk_scores),
        ("nirs4all", n4a_scores),
        ("itself, sklearn PLSRegression", ours_scores_sk),
    )
    for other, scores in others:
        common = [k for k in ours_scores if k in scores]
        if not common:
            continue
        rel = [abs(ours_scores[k]["rmsecv"] - scores[k]["rmsecv"]) / scores[k]["rmsecv"] for k in common]
        worst = common[int(np.argmax(rel))]
        print(f"   nirs_core vs {other}: RMSECV of {len(common)} configs differ by at most "
              f"{max(rel):.1e} relative ({worst[0]} PLS-{worst[1]}), median {np.median(rel):.1e}")  # fmt: skip
    if n4a:
        from sklearn.model_selection import KFold

        splitter = KFold(N_SPLITS, shuffle=True, random_state=RANDOM_STATE)
        sk_folds = [sorted(int(i) for i in val) for _, val in splitter.split(Xcal)]
        same = n4a["folds"] is not None and n4a["folds"] == sk_folds
        print("   nirs4all's validation folds " + ("equal" if same else "DIFFER from")
              + f" scikit-learn's KFold(5, shuffle, random_state 0) on the {len(Xcal)} calibration rows;")  # fmt: skip
        print(
            "   differences then come from the algorithms alone (PLS implementation, its conditioning at high"
        )
        print("   n_components on ~48 training rows; Savitzky-Golay coefficients) rather than from the folds."
              if same else "   the scores differ partly because the folds do.")  # fmt: skip
        print(
            "   nirs4all refits only its selected config (RMSEP of that one); nirs_core and the loop refit all 15."
        )


# ------------------------------------------------------------------------------- the bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="dataset folder or file")
    parser.add_argument("--keep-venv", type=Path, help="nirs4all's virtual environment (kept; reused)")
    parser.add_argument("--cache-mb", type=float, default=1.0, help="small cache bound, MB (default 1)")
    parser.add_argument("--tile-rows", type=int, default=20_000, help="rows of the tiled dataset")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds after the warm-up")
    parser.add_argument("--samples", type=int, default=430,
                        help="tile the calibration spectra to this many samples (0: as they are)")  # fmt: skip
    parser.add_argument("--skip-memory", action="store_true", help="skip the peak-memory section")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(json.loads(args.memory_child))
        return 0

    dataset = args.dataset.resolve()
    if not dataset.exists():
        print(f"bench/sweep.py: skipped: dataset {dataset} not found (see ../shared/data/SOURCES.md).")
        return 0

    import nirs_core
    from nirs_core.data import load
    from nirs_core.pipeline.cache import PreprocessingCache
    from nirs_core.pipeline.executor import execute_batch
    from nirs_core.pipeline.generators import expand, load_template

    tmp = Path(tempfile.mkdtemp(prefix="nirs-bench-sweep-"))
    server: Nirs4allServer | None = None
    try:
        template = tmp / "sweep.yaml"
        template.write_text(TEMPLATE, encoding="utf-8")
        template_sk = tmp / "sweep_sklearn.yaml"
        template_sk.write_text(TEMPLATE_SK, encoding="utf-8")
        if args.samples:
            from _tiled import write_cal_val

            seed = load(dataset)
            n_test = len(seed.y({"partition": "test"}))
            if args.samples <= n_test:
                sys.exit(f"--samples {args.samples}: must exceed the dataset's {n_test} test samples")
            tiled = tiled_dataset(seed, args.samples - n_test)
            dataset = write_cal_val(tiled, tmp / f"{dataset.name}{args.samples}")
        ds = load(dataset)
        Xcal = np.ascontiguousarray(ds.x({"partition": "train"}, src_concat=True)[0], dtype=np.float64)
        ycal = np.asarray(ds.y({"partition": "train"}), dtype=np.float64).ravel()
        Xtest = np.ascontiguousarray(ds.x({"partition": "test"}, src_concat=True)[0], dtype=np.float64)
        ytest = np.asarray(ds.y({"partition": "test"}), dtype=np.float64).ravel()
        configs = expand(load_template(template))
        configs_sk = expand(load_template(template_sk))
        spectra_bytes = ds.x(src_concat=True)[0].nbytes

        print("bench/sweep.py: 15 configs = (SNV | SavitzkyGolay(15, 2, deriv 1) | MSC) × "
              "PLSRegression(scale=False) n_components 2, 6, 10, 14, 18; KFold(5, shuffle, random_state 0)")  # fmt: skip
        print(f"dataset   {dataset}: calibration {Xcal.shape[0]} × {Xcal.shape[1]}, test {len(Xtest)} rows; "
              f"spectra {fmt_bytes(spectra_bytes)} float64")  # fmt: skip
        print(f"machine   {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}, "
              f"numpy {np.__version__}; nirs_core {nirs_core.__version__}")  # fmt: skip

        # nirs4all: install, then a warm nirs4all interpreter that runs the sweep on request
        n4a_python, install_note = install_nirs4all(
            args.keep_venv.resolve() if args.keep_venv else tmp / "nirs4all-venv"
        )
        print(f"nirs4all  {install_note}")
        server, n4a_note = None, "not installed"
        if n4a_python is not None:
            try:
                server = Nirs4allServer(n4a_python, dataset, tmp / "n4a_inproc", tmp / "n4a_inproc.log")
            except (RuntimeError, OSError, json.JSONDecodeError) as exc:
                n4a_note = str(exc)

        # 1. in process
        counter = iter(range(10**6))

        def ours_run():
            return nirs_core.run(templates=[str(template)], datasets=[str(dataset)],
                                 workspace=tmp / "ours_inproc" / str(next(counter)), progress=False)  # fmt: skip

        def ours_engine():
            return execute_batch(configs, ds, cache=PreprocessingCache())

        def ours_run_sk():
            return nirs_core.run(templates=[str(template_sk)], datasets=[str(dataset)],
                                 workspace=tmp / "ours_inproc" / str(next(counter)), progress=False)  # fmt: skip

        def ours_engine_sk():
            return execute_batch(configs_sk, ds, cache=PreprocessingCache())

        def sklearn_loop():
            return sklearn_sweep(Xcal, ycal, Xtest, ytest)

        def n4a_run():
            nonlocal server, n4a_note
            if server is None:
                return
            try:
                server.run()
            except (RuntimeError, OSError, json.JSONDecodeError) as exc:
                n4a_note, server = str(exc), None

        times = best_of(
            {
                "run": ours_run,
                "engine": ours_engine,
                "run_sk": ours_run_sk,
                "engine_sk": ours_engine_sk,
                "sklearn": sklearn_loop,
                "nirs4all": n4a_run,
            },
            args.repeats,
        )
        run_result = ours_run()
        run_result_sk = ours_run_sk()
        sk_scores = sklearn_loop()
        n4a = None
        if server is not None:
            try:
                n4a = server.report()
            except (RuntimeError, OSError, json.JSONDecodeError) as exc:
                n4a_note = str(exc)
            server.close()
            server = None
        n4a_warm = min(n4a["run_s"][1:]) if n4a else None

        print(f"\n1. In process (imports excluded; best of {args.repeats} interleaved rounds after a warm-up round;"
              " nirs4all in its own warm interpreter)")  # fmt: skip
        if n4a:
            print(
                f"   nirs4all chose its engine {n4a['engine']!r}; {n4a['num_predictions']} prediction entries per run"
            )
        print(f"   {'what':<58} {'time':>10} {'ours faster by':>15}  target")
        rows = [
            ("nirs_core.run: load folder, 15 configs, write workspace", times["run"], None, ""),
            ("nirs4all.run: the same (its workspace; refits 1 config)", n4a_warm, times["run"], "≥ 20×"),
            ("execute_batch: the engine on loaded arrays, no storage", times["engine"], None, ""),
            (
                "scikit-learn loop: same arrays, 90 fits, no storage",
                times["sklearn"],
                times["engine"],
                "> 1×",
            ),
            ("nirs_core.run, template naming sklearn's PLSRegression", times["run_sk"], None, ""),
            ("nirs4all.run vs that run", n4a_warm, times["run_sk"], "≥ 20×"),
            ("execute_batch, sklearn's PLSRegression (our kernel)", times["engine_sk"], None, ""),
            ("nirs4all.run vs execute_batch (engine alone)", n4a_warm, times["engine"], ""),
            ("scikit-learn loop vs nirs_core.run (storage included)", times["sklearn"], times["run"], ""),
        ]
        for what, t, ours, target in rows:
            ratio = None if t is None or ours is None else t / ours
            limit = 20.0 if target == "≥ 20×" else 1.0
            text = "-" if ratio is None else f"{ratio:.2f}×"
            mark = verdict(ratio, ratio is not None and ratio >= limit) if target else ""
            print(f"   {what:<58} {fmt_s(t):>10} {text:>15}  {target} {mark}".rstrip())
        if n4a:
            print(
                f"   (nirs4all: cold first run {fmt_s(n4a['run_s'][0])}, `import nirs4all` {fmt_s(n4a['import_s'])})"
            )
        else:
            print(f"   nirs4all skipped: {n4a_note}")

        # 2. whole processes
        # Both sides start from compiled bytecode, as installed packages do: pip compiled
        # nirs4all's when it installed it, while an editable install of this project is compiled
        # on first import, which PYTHONDONTWRITEBYTECODE (set in some sandboxes) prevents, so
        # every run would compile it again.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "nirs_core")], check=False)
        nirs_exe = Path(sys.executable).with_name("nirs")
        ours_cmd = [str(nirs_exe)] if nirs_exe.is_file() else [sys.executable, "-m", "nirs_core.cli"]
        proc_times: dict[str, float] = {}
        proc_notes: list[str] = []

        def ours_process():
            ws = tmp / "ours_proc" / str(next(counter))
            out = subprocess.run([*ours_cmd, "run", str(template), "--data", str(dataset), "--workspace",
                                  str(ws), "--json", "--no-progress"], capture_output=True, text=True)  # fmt: skip
            if out.returncode != 0:
                raise RuntimeError(f"nirs run failed (exit {out.returncode}):\n{tail(out.stderr)}")
            return json.loads(out.stdout)

        def n4a_process():
            ws = tmp / "n4a_proc" / str(next(counter))
            ws.mkdir(parents=True)
            out = subprocess.run([str(n4a_python), str(N4A_SCRIPT), "--dataset", str(dataset),
                                  "--workspace", str(ws)], capture_output=True, text=True, cwd=ws)  # fmt: skip
            if out.returncode != 0 and not proc_notes:
                proc_notes.append(f"nirs4all script failed (exit {out.returncode}):\n{tail(out.stderr)}")

        def ours_process_sk():
            ws = tmp / "ours_proc" / str(next(counter))
            out = subprocess.run([*ours_cmd, "run", str(template_sk), "--data", str(dataset), "--workspace",
                                  str(ws), "--json", "--no-progress"], capture_output=True, text=True)  # fmt: skip
            if out.returncode != 0:
                raise RuntimeError(f"nirs run failed (exit {out.returncode}):\n{tail(out.stderr)}")
            return json.loads(out.stdout)

        contenders = {"ours": ours_process, "ours_sk": ours_process_sk}
        if n4a_python is not None:
            contenders["nirs4all"] = n4a_process
        try:
            proc_times = best_of(contenders, max(2, args.repeats // 2))
        except RuntimeError as exc:
            proc_notes.append(str(exc))
        if proc_notes:
            proc_times.pop("nirs4all", None)
        print(f"\n2. Whole processes (imports included; best of {max(2, args.repeats // 2)} after a warm-up)")
        print(f"   {'command':<58} {'time':>10} {'ours faster by':>15}  target")
        print(
            f"   {'nirs run TEMPLATE --data PATH --workspace DIR --json':<58} {fmt_s(proc_times.get('ours')):>10}"
        )
        print(
            f"   {'the same, template naming sklearn PLSRegression':<58} {fmt_s(proc_times.get('ours_sk')):>10}"
        )
        if "nirs4all" in proc_times and "ours" in proc_times:
            print(f"   {'python bench/_nirs4all_sweep.py (nirs4all venv, 1 run)':<58} "
                  f"{fmt_s(proc_times['nirs4all']):>10}")  # fmt: skip
            for key, what in (
                ("ours", "vs nirs run, our PLS"),
                ("ours_sk", "vs nirs run, sklearn PLSRegression"),
            ):
                if key in proc_times:
                    ratio = proc_times["nirs4all"] / proc_times[key]
                    print(f"   {'   nirs4all ' + what:<58} {'':>10} {ratio:>14.2f}×  ≥ 10× "
                          f"{verdict(ratio, ratio >= 10)}")  # fmt: skip
        else:
            print(f"   nirs4all skipped: {n4a_note or 'see above'}")
        for note in proc_notes:
            print(f"   {note}")

        # 3. peak memory
        if args.skip_memory:
            print("\n3. Peak memory: skipped (--skip-memory)")
        else:
            _memory_section(args, dataset, template)
        _scores_section(run_result, run_result_sk, sk_scores, n4a, Xcal)
        return 0
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
