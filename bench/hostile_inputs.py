"""Time and memory to refuse hostile inputs, against verifying a good bundle in the same run.

    python bench/hostile_inputs.py [--inflate-gib 7] [--repeats 3]

Each case runs in a NEW process (``nirs verify`` / ``nirs expand``, imports included) and is
measured from outside: wall time, and the child's peak resident memory (``ru_maxrss``). The
baseline is ``nirs verify`` of a good signed bundle (a PLS on ../shared/data/corn) in the same
run; ratios are against it. Cases:

- zip bomb: an unsigned zip of a few MB whose one deflated member inflates to
  ``--inflate-gib`` GiB (honest headers, as in issue 13);
- array bomb: a validly signed bundle whose ``.npz`` state declares a 2.8 GiB float64 array;
- alias bomb: a 1 KB YAML template whose aliases expand to 10^10 strings;
- deep nesting: a template nested 50 000 levels deep.

Target (issue 13): each refused within a second and under 200 MB.
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CORN = REPO.parent / "shared" / "data" / "corn"
# the child reports its own peak resident memory (VmHWM: reset by exec, unlike ru_maxrss)
_CHILD = """
import sys
from nirs_core.cli import main
sys.argv[0] = "nirs"
try:
    code = main()
finally:
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
    sys.stderr.write("\\n" + hwm)
sys.exit(code)
"""
NIRS = [sys.executable, "-c", _CHILD]


def _measure(args: list[str], repeats: int) -> tuple[float, float, int]:
    """(median seconds, peak MiB of the child, exit code) of ``nirs args``."""
    times, peaks, code = [], [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(NIRS + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - start)
        hwm = done.stderr.strip().splitlines()[-1]  # "VmHWM:   123456 kB"
        peaks.append(int(hwm.split()[1]) / 1024)
        code = done.returncode
    return statistics.median(times), max(peaks), code


def _in_process(args: list[str], repeats: int) -> float:
    """Median seconds of the same command called in this process (imports already done)."""
    import contextlib

    from nirs_core.cli import main

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            main(args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _good_bundle(root: Path) -> tuple[Path, Path]:
    from nirs_core.app.train import train_bundle
    from nirs_core.store.signing import generate_keys

    template = root / "t.yaml"
    template.write_text(
        "pipeline:\n  - split: {class: sklearn.model_selection.KFold, params: {n_splits: 5}}\n"
        "  - {class: SavitzkyGolay, params: {window_length: 15, polyorder: 2, deriv: 1}}\n"
        "  - model: {class: PLS, params: {n_components: 10}}\n"
    )
    private, public = generate_keys(root / "keys")
    out = train_bundle(template, CORN, root / "good.zip", key_file=private)
    return Path(out["bundle"]), public


def _zip_bomb(path: Path, gib: int) -> None:
    chunk = bytes(64 << 20)  # deflating zeros: about 10 s per GiB on a busy machine
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("manifest.sha256", b"")
        info = zipfile.ZipInfo("bundle.json", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as fh:
            for _ in range((gib << 30) // len(chunk)):
                fh.write(chunk)


def _array_bomb(good: Path, private: Path, path: Path) -> None:
    from nirs_core.store.signing import resolve_signer

    with zipfile.ZipFile(good) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    header = io.BytesIO()
    n = (2_800 << 20) // 8
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as zf:
        zf.writestr("coef.npy", header.getvalue() + bytes(64))
    name = next(m for m in members if m.endswith(".npz"))
    members[name] = npz.getvalue()
    import hashlib
    import json

    body = {k: v for k, v in members.items() if k not in ("manifest.sha256", "signature")}
    manifest = "".join(f"{hashlib.sha256(body[m]).hexdigest()}  {m}\n" for m in sorted(body)).encode()
    sig = {"format": "nirs.signature/1", **resolve_signer(key_file=private).sign(manifest)}
    with zipfile.ZipFile(path, "w") as zf:
        for k in sorted(body):
            zf.writestr(k, body[k])
        zf.writestr("manifest.sha256", manifest)
        zf.writestr("signature", json.dumps(sig))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inflate-gib", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not CORN.is_dir():
        sys.exit(f"bench/hostile_inputs.py: needs the corn data at {CORN}")
    with tempfile.TemporaryDirectory(prefix="nirs-bench-hostile-") as tmp:
        root = Path(tmp)
        good, public = _good_bundle(root)
        bomb = root / "zipbomb.zip"
        _zip_bomb(bomb, args.inflate_gib)
        arrays = root / "arraybomb.zip"
        _array_bomb(good, root / "keys" / "signing.key", arrays)
        alias = root / "alias.yaml"
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
        alias.write_text("\n".join([*lines, "pipeline: [*a9]"]) + "\n")
        deep = root / "deep.yaml"
        deep.write_text("pipeline: " + "[" * 50_000 + "SNV" + "]" * 50_000 + "\n")
        cases = [
            ("baseline: verify a good bundle", ["verify", str(good), "--public-key", str(public)], 0),
            (
                f"zip bomb ({bomb.stat().st_size / 2**20:.1f} MiB -> {args.inflate_gib} GiB)",
                ["verify", str(bomb), "--trust-unsigned"],
                2,
            ),
            ("array bomb (2.8 GiB declared)", ["verify", str(arrays), "--public-key", str(public)], 2),
            (f"alias bomb ({alias.stat().st_size} bytes)", ["expand", str(alias)], 2),
            ("deep nesting (50 000 levels)", ["expand", str(deep)], 2),
        ]
        base_time = base_mem = base_call = None
        print("each case in a new process (imports included); 'call s': the call alone in this process")
        head = f"{'case':<44} {'seconds':>8} {'x base':>7} {'peak MiB':>9} {'x base':>7}  exit {'call s':>8}"
        print(head + f" {'x base':>7}")
        for label, cli, expected in cases:
            seconds, peak, code = _measure(cli, args.repeats)
            call = _in_process(cli, args.repeats)
            if base_time is None:
                base_time, base_mem, base_call = seconds, peak, call
            flag = "" if code == expected else f"  (expected exit {expected})"
            print(
                f"{label:<44} {seconds:8.3f} {seconds / base_time:7.2f} {peak:9.1f} {peak / base_mem:7.2f}  "
                f"{code:<4} {call:8.4f} {call / base_call:7.2f}{flag}"
            )
    print(
        f"(this process: peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB building the inputs)"
    )


if __name__ == "__main__":
    main()
