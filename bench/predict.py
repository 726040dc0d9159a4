"""Cold-process prediction time of a bundle: one spectrum and 10 000 spectra, imports included.

    python bench/predict.py [--dataset PATH] [--repeats N] [--nirs4all-venv DIR] [--no-nirs4all]

1. Trains one model on ../shared/data/corn (Savitzky-Golay 15/2/1st derivative → PLS with 10
   components, 5-fold CV, refit) with ``nirs_core.run`` and writes a signed bundle.
2. Writes two CSV files with the training axis as header: one spectrum (the first of Xval)
   and 10 000 spectra (Xcal and Xval rows repeated).
3. Times ``nirs predict model.zip spectra.csv -o preds.csv`` in a NEW process each time
   (interpreter start, imports, bundle verification, CSV read, replay, CSV write), ``--repeats``
   times, and prints min and median; beside it, ``python -c pass`` and ``import numpy`` as
   floors.
4. nirs4all 1.4.10, when it can be installed into a separate virtual environment (a temporary
   one, or ``--nirs4all-venv DIR``, reused when it already holds that version): the same
   pipeline is trained with ``nirs4all.run`` and exported (``.n4a``); then a new process
   imports nirs4all, reads the same CSV with numpy and calls ``nirs4all.predict``. When the
   install or a step fails, the script says so and reports the project's numbers alone.
   nirs4all is never installed into the project's environment.

Target (issue 5): ≤ 0.5 s cold for one spectrum.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from _nirs4all_env import NIRS4ALL_VERSION, install_nirs4all  # noqa: E402

N_COMPONENTS = 10
TEMPLATE = f"""name: bench_predict
pipeline:
  - split:
      class: sklearn.model_selection.KFold
      params: {{n_splits: 5, shuffle: true, random_state: 0}}
  - class: SavitzkyGolay
    params: {{window_length: 15, polyorder: 2, deriv: 1}}
  - model:
      class: PLS
      params: {{n_components: {N_COMPONENTS}, scale: false}}
"""

N4A_TRAIN = f"""
import sys, warnings
warnings.filterwarnings("ignore")
import nirs4all
from nirs4all.operators.transforms import SavitzkyGolay
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import KFold
pipeline = [KFold(n_splits=5, shuffle=True, random_state=0),
            SavitzkyGolay(window_length=15, polyorder=2, deriv=1),
            {{"model": PLSRegression(n_components={N_COMPONENTS}, scale=False)}}]
result = nirs4all.run(pipeline, sys.argv[1], verbose=0, save_charts=False, results_path=sys.argv[3])
result.export(sys.argv[2])
"""

N4A_PREDICT = """
import sys, warnings
warnings.filterwarnings("ignore")
import numpy as np, nirs4all
X = np.loadtxt(sys.argv[2], delimiter=";", skiprows=1, ndmin=2)
out = nirs4all.predict(model=sys.argv[1], data=X, verbose=0)
y = np.asarray(getattr(out, "y_pred", out), dtype=float).ravel()
np.savetxt(sys.argv[3], y)
"""


def timed(cmd: list[str], repeats: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd[:4])}… failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
            )
    return times


def fmt(times: list[float] | None) -> str:
    if not times:
        return f"{'—':>8} {'—':>8}"
    return f"{min(times):8.3f} {statistics.median(times):8.3f}"


def write_csv(path: Path, axis: np.ndarray, X: np.ndarray) -> Path:
    header = ";".join(f"{w:g}" for w in axis)
    np.savetxt(path, X, delimiter=";", header=header, comments="", fmt="%.10g")
    return path


def _target_column(path: Path) -> np.ndarray:
    """The predicted values of ``nirs predict``'s CSV output: its first column that is not the
    sample id (the others are the conformal interval's ``<target>_lower``/``_upper`` and the
    applicability domain's columns)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    first = 1 if header[0].lower() in {"sample", "sample_id", "id"} else 0
    return np.asarray([float(r[first]) for r in body], dtype=np.float64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=REPO.parent / "shared" / "data" / "corn")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--nirs4all-venv", type=Path, help="nirs4all's virtual environment (kept; reused)")
    parser.add_argument("--no-nirs4all", action="store_true", help="skip the nirs4all comparison")
    args = parser.parse_args()
    if not (args.dataset / "Xcal.csv").is_file():
        print(f"bench/predict.py: no corn data at {args.dataset} (expected Xcal.csv there)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="nirs-bench-predict-") as scratch:
        tmp = Path(scratch)
        env = {**os.environ, "NIRS_BUNDLE_KEY": secrets.token_hex(32), "HOME": str(tmp)}
        env.pop("NIRS_BUNDLE_KEY_FILE", None)
        template = tmp / "template.yaml"
        template.write_text(TEMPLATE)
        bundle = tmp / "model.zip"
        nirs = [sys.executable, "-m", "nirs_core.cli"]
        start = time.perf_counter()
        timed(
            [*nirs, "train", str(template), "--data", str(args.dataset), "-o", str(bundle), "--no-progress"],
            1,
            env,
        )
        print(
            f"trained and bundled SG(15,2,1) → PLS({N_COMPONENTS}) on {args.dataset.name} in "
            f"{time.perf_counter() - start:.1f} s ({bundle.stat().st_size / 1024:.0f} KiB bundle)"
        )

        header = (args.dataset / "Xcal.csv").read_text().splitlines()[0]
        axis = np.array([float(v) for v in header.split(";")])
        Xcal = np.loadtxt(args.dataset / "Xcal.csv", delimiter=";", skiprows=1)
        Xval = np.loadtxt(args.dataset / "Xval.csv", delimiter=";", skiprows=1)
        pool = np.vstack([Xcal, Xval])
        one = write_csv(tmp / "one.csv", axis, Xval[:1])
        many = write_csv(tmp / "many.csv", axis, pool[np.arange(10_000) % pool.shape[0]])

        rows: list[tuple[str, list[float] | None, list[float] | None]] = []
        rows.append(("python -c pass", timed([sys.executable, "-c", "pass"], args.repeats, env), None))
        rows.append(
            (
                "python -c 'import numpy'",
                timed([sys.executable, "-c", "import numpy"], args.repeats, env),
                None,
            )
        )
        ours_one = timed(
            [*nirs, "predict", str(bundle), str(one), "-o", str(tmp / "p1.csv")], args.repeats, env
        )
        ours_many = timed(
            [*nirs, "predict", str(bundle), str(many), "-o", str(tmp / "pm.csv")], args.repeats, env
        )
        rows.append(("nirs predict (this project)", ours_one, ours_many))
        ours_pred = _target_column(tmp / "p1.csv")

        note = "nirs4all: skipped (--no-nirs4all)"
        if not args.no_nirs4all:
            venv = args.nirs4all_venv or tmp / "nirs4all-venv"
            python, note = install_nirs4all(venv)
            if python is not None:
                n4a = tmp / "model.n4a"
                try:
                    timed(
                        [str(python), "-c", N4A_TRAIN, str(args.dataset), str(n4a), str(tmp / "n4a-ws")],
                        1,
                        env,
                    )
                    cmd = [str(python), "-c", N4A_PREDICT, str(n4a)]
                    n4a_one = timed([*cmd, str(one), str(tmp / "n1.txt")], args.repeats, env)
                    n4a_many = timed([*cmd, str(many), str(tmp / "nm.txt")], max(3, args.repeats // 2), env)
                    rows.append((f"nirs4all {NIRS4ALL_VERSION} predict", n4a_one, n4a_many))
                    diff = float(np.max(np.abs(np.loadtxt(tmp / "n1.txt", ndmin=1) - ours_pred)))
                    note += f"; |nirs4all − ours| on the one spectrum: {diff:.3g}"
                except RuntimeError as exc:
                    note += f"; but its run failed, column skipped:\n{str(exc)[-1200:]}"

        print(f"\ncold process, imports included; {args.repeats} repeats; seconds")
        print(f"{'':32} {'1 spectrum':>17} {'10 000 spectra':>17}")
        print(f"{'':32} {'min':>8} {'median':>8} {'min':>8} {'median':>8}")
        for label, a, b in rows:
            print(f"{label:32} {fmt(a)} {fmt(b)}")
        best = min(ours_one)
        verdict = "met" if best <= 0.5 else "NOT met"
        print(
            f"\ntarget ≤ 0.5 s cold for one spectrum: {verdict} (min {best:.3f} s, median {statistics.median(ours_one):.3f} s)"
        )
        if len(rows) > 3 and rows[3][1]:
            print(
                f"ratio nirs4all / ours (median, one spectrum): {statistics.median(rows[3][1]) / statistics.median(ours_one):.1f}×"
            )
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
