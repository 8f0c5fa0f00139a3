"""Synthetic dataset speed: views per second at 256 x 256, including writing every file.

Target (issue 3): >= 20 views/s at 256 x 256 on the 2-core dev machine.
Each run writes a fresh dataset (rgb, part, front and back depth, normal PNGs + json) into a
temp folder with ``write_dataset`` (the code behind ``humancrafter synth``), timed from the
call to the last file, process start-up of the workers included. Medians of several runs;
the machine's load average is recorded because other jobs share these 2 cores.
Run: ``.venv/bin/python benchmarks/bench_synth.py`` (writes benchmarks/results/synth.md).
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe_machine

from humancrafter.portable.parts import NUM_PARTS, PART_NAMES
from humancrafter.synth import default_workers, load_view, write_dataset

SUBJECTS = 30
VIEWS = 8
RES = 256
RUNS = 3
OUT = Path(__file__).parent / "results" / "synth.md"


def class_table(root: Path) -> list[str]:
    """Share of person pixels and of views in which each class appears."""
    pixels = np.zeros(NUM_PARTS)
    views = np.zeros(NUM_PARTS)
    n_views = 0
    for body in sorted(root.glob("*/*/body.json")):
        for v in range(VIEWS):
            part = load_view(body.parent, v)["part"]
            counts = np.bincount(part.ravel(), minlength=NUM_PARTS)
            pixels += counts
            views += counts > 0
            n_views += 1
    person = pixels[1:].sum()
    return [
        f"| {i} | {PART_NAMES[i]} | {100 * pixels[i] / person:.2f} % "
        f"| {100 * views[i] / n_views:.0f} % |"
        for i in range(1, NUM_PARTS)
    ]


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(workers: int, classes: list[str]) -> tuple[list[float], list[float]]:
    """Views per second and CPU seconds per view of RUNS fresh datasets; fills ``classes``
    from the first one."""
    rates, cpu = [], []
    for i in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            c0, t0 = _cpu_seconds(), time.perf_counter()
            write_dataset(
                Path(tmp) / "ds", SUBJECTS, VIEWS, RES, seed=i, workers=workers, progress=False
            )
            rates.append(SUBJECTS * VIEWS / (time.perf_counter() - t0))
            cpu.append((_cpu_seconds() - c0) / (SUBJECTS * VIEWS))
            if not classes:
                classes.extend(class_table(Path(tmp) / "ds"))
    return rates, cpu


def main() -> None:
    rows: list[str] = []
    loads: list[float] = []
    classes: list[str] = []
    for workers in sorted({1, default_workers()}):
        loads.append(os.getloadavg()[0])
        rates, cpu = run(workers, classes)
        loads.append(os.getloadavg()[0])
        med = statistics.median(rates)
        runs = ", ".join(f"{r:.1f}" for r in rates)
        c = statistics.median(cpu)
        rows.append(
            f"| {workers} | {med:.1f} views/s | {runs} | {1000 * c:.0f} ms "
            f"| {min(workers, os.cpu_count() or 1) / c:.0f} views/s |"
        )
        print(rows[-1], flush=True)
    table = [
        "# Synthetic dataset generation",
        "",
        f"`humancrafter synth`: {SUBJECTS} subjects x {VIEWS} views at {RES} x {RES}, all files "
        f"written (RGBA, part ids, front and back depth, normals, cameras, body json); "
        f"median of {RUNS} runs, each a fresh dataset.",
        f"Machine: {describe_machine()}. 1-minute load average during the runs: "
        f"{min(loads):.1f} to {max(loads):.1f} (other jobs share the cores).",
        "Target: >= 20 views/s. The last column is what the measured CPU time per view gives "
        "when the workers have their cores to themselves (workers / CPU time per view).",
        "",
        "| worker processes (1 thread each) | median | runs | CPU time per view "
        "| implied on idle cores |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Classes in the first dataset (seed 0, {SUBJECTS} subjects x {VIEWS} views): share of "
        "person pixels and share of views showing the class.",
        "",
        "| id | class | pixels | views |",
        "|---|---|---|---|",
        *classes,
    ]
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("\n".join(table) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
