"""Speed and memory of the default mode (``prior``, the fitted body) with the models
loaded (target on the 2-core CPU, issue 22: <= 1.5 s per photo and <= 2 GB peak), with the
time of each stage, and the ``fast`` mode (the network) in the same run. Writes
benchmarks/results/fast.md.

Each mode: one warm-up job, then the median of 5 jobs on the bundled astronaut photo
(40,000 Gaussians, no preview, as the add-on asks the service), and the same jobs with
the preview (8 x 256 px, ``reconstruct --preview``) in the same run; peak memory is the
process's maximum resident set size after all jobs (torch, mediapipe and both models
loaded). The network alone on CUDA (the paper: 126 ms per object for 2 views) needs a GPU
session: not measured here.
"""

from __future__ import annotations

import resource
import statistics
import time
from pathlib import Path

from machine import describe_machine

from humancrafter.photo import load_image
from humancrafter.pipeline import DEMO_PHOTO, Pipeline, ReconstructOptions

RUNS = 5
OUT = Path(__file__).parent / "results" / "fast.md"


def time_mode(pipeline: Pipeline, mode: str, preview: bool) -> tuple[float, dict[str, float]]:
    image = load_image(DEMO_PHOTO)
    opts = ReconstructOptions(mode=mode, num_gaussians=40_000, preview=preview)  # type: ignore[arg-type]
    pipeline.run([image], opts)  # warm-up
    totals, stages = [], []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        result = pipeline.run([image], opts)
        totals.append(time.perf_counter() - t0)
        stages.append(result.timings)
    median = {k: statistics.median(s[k] for s in stages) for k in stages[0]}
    return statistics.median(totals), median


def main() -> None:
    pipeline = Pipeline("cpu")
    rows = []
    for mode, preview in (("prior", False), ("fast", False), ("prior", True)):
        total, stages = time_mode(pipeline, mode, preview)
        rows.append((mode + (" + preview" if preview else ""), total, stages))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    lines = [
        "# `reconstruct` (default mode `prior`) vs `--mode fast` (network)",
        "",
        f"Machine: {describe_machine()}.",
        "",
        f"Bundled astronaut photo, 40,000 Gaussians; median of {RUNS} jobs after a warm-up, "
        "model loaded. Without a preview (the add-on's jobs) and, last row, with the "
        'preview sheet of 8 x 256 px (`reconstruct --preview`, or `"preview": true` '
        "in a service request).",
        "",
        "| mode | total s | stages (median s) |",
        "|---|---|---|",
    ]
    for mode, total, stages in rows:
        cells = ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
        lines.append(f"| {mode} | {total:.2f} | {cells} |")
    prior, fast, prior_preview = (row[1] for row in rows)
    met = prior <= 1.5 and peak_gb <= 2.0
    lines += [
        "",
        f"`fast` / `prior` time ratio in the same run: {fast / prior:.2f}; the preview adds "
        f"{prior_preview - prior:.2f} s to a job. Peak resident memory of the process "
        f"(both modes, all models loaded): {peak_gb:.2f} GB.",
        "",
        "Target (issue 22): the default mode in at most 1.5 s and 2 GB on the 2-core CPU: "
        f"{'met' if met else 'NOT met'} ({prior:.2f} s, {peak_gb:.2f} GB).",
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
