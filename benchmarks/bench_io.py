"""Splat file write/read speed: 1M splats, medians of several runs.

Target (issue 2): write and read of 1M splats ≤ 0.5 s each on the 2-core dev machine.
Run: ``.venv/bin/python benchmarks/bench_io.py`` (writes benchmarks/results/io.md).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe_machine

from humancrafter.portable import splatfile
from humancrafter.portable.splatfile import Splats

N = 1_000_000
RUNS = 5
OUT = Path(__file__).parent / "results" / "io.md"


def make_splats(n: int, bands: int) -> Splats:
    rng = np.random.default_rng(0)

    def f(*shape: int) -> np.ndarray:
        return rng.normal(size=shape).astype(np.float32)

    return Splats(
        means=f(n, 3),
        sh0=f(n, 3),
        opacities=f(n),
        log_scales=f(n, 3),
        quats=f(n, 4),
        sh_rest=f(n, bands, 3),
        normals=np.zeros((n, 3), np.float32),
        part=rng.integers(0, 28, n).astype(np.uint8),
        part_conf=rng.random(n).astype(np.float32),
    )


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ply"
        for bands, label in [(0, "labelled, SH degree 0 (what the pipeline writes)"),
                             (15, "labelled, SH degree 3")]:  # fmt: skip
            splats = make_splats(N, bands)
            writes, reads = [], []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                splatfile.save(path, splats)
                t1 = time.perf_counter()
                splatfile.load(path)
                writes.append(t1 - t0)
                reads.append(time.perf_counter() - t1)
            size = path.stat().st_size / 2**20
            w, r = statistics.median(writes), statistics.median(reads)
            rows.append(f"| {label} | {size:.0f} MiB | {w:.3f} s | {r:.3f} s |")
            print(rows[-1])
    table = [
        "# Splat file I/O",
        "",
        f"1M splats, median of {RUNS} runs, file in a temp folder (page cache warm).",
        f"Machine: {describe_machine()}.",
        "Target: write ≤ 0.5 s and read ≤ 0.5 s.",
        "",
        "| file | size | write | read |",
        "|---|---|---|---|",
        *rows,
    ]
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("\n".join(table) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
