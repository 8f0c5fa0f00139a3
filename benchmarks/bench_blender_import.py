"""Benchmark: a 1M-splat semantic file -> a Blender object with every splat attribute,
28 part vertex groups and the display node set-up, against the naive import pattern.

Runs headless with the ``bpy`` wheel; installs the add-on zip into temporary Blender user
folders first (not timed). Each run imports into an emptied file (objects, meshes,
materials and node groups of the previous run removed), so every run builds the display
from nothing, as a first import does. The naive pattern (``from_pydata`` + per-point
Python loops for attributes and vertex groups, as public 3DGS import add-ons do) is timed
on a subset and extrapolated linearly to 1M points (it is linear in N; the subset size is
printed). Both are timed ``--repeats`` times in the same process; the table gives the
medians. Writes ``benchmarks/results/blender_import.md``.

    .venv/bin/python benchmarks/bench_blender_import.py [--n 1000000] [--naive-n 50000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TMP = Path(tempfile.mkdtemp(prefix="hc-bench-"))
os.environ["BLENDER_USER_RESOURCES"] = str(TMP / "blender")  # before bpy loads
os.environ["HUMANCRAFTER_CONFIG_DIR"] = str(TMP / "config")
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests" / "blender"), str(ROOT / "benchmarks")]

import bpy  # noqa: E402
import build_addon  # noqa: E402
import numpy as np  # noqa: E402
from machine import describe_machine  # noqa: E402
from synth_body import body  # noqa: E402

from humancrafter.portable import splatfile  # noqa: E402
from humancrafter.portable.parts import NUM_PARTS, PART_NAMES  # noqa: E402


def semantic_file(n: int, path: Path) -> None:
    """A labelled body of ``n`` splats in which all 28 classes occur."""
    s = body(n, seed=0)
    rng = np.random.default_rng(1)
    missing = np.setdiff1d(np.arange(NUM_PARTS), np.unique(s.part))
    pick = rng.choice(n, size=len(missing) * max(n // 1000, 1), replace=False)
    s.part[pick] = np.repeat(missing, max(n // 1000, 1)).astype(np.uint8)
    splatfile.save(path, s)


def _empty_file() -> None:
    for coll in (bpy.data.objects, bpy.data.meshes, bpy.data.materials, bpy.data.node_groups):
        for item in list(coll):
            coll.remove(item)


def fast_import(addon, path: Path) -> tuple[float, dict]:
    importer = sys.modules[addon + ".importer"]
    operators = sys.modules[addon + ".operators"]
    _empty_file()
    t0 = time.perf_counter()
    s = splatfile.load(path)
    t1 = time.perf_counter()
    obj, report = importer.create_object(s, "bench", 1.75)
    t2 = time.perf_counter()
    operators.present_import(obj, report, bpy.context.scene)
    t3 = time.perf_counter()
    assert len(obj.vertex_groups) == NUM_PARTS, len(obj.vertex_groups)
    assert obj.modifiers["HumanCrafter Display"].node_group is not None
    return t3 - t0, {
        "read file": t1 - t0,
        "object + attributes + part groups": t2 - t1,
        "display + part list": t3 - t2,
    }


def naive_import(path: Path, n: int) -> float:
    """from_pydata + per-point loops, for the first ``n`` splats of the file."""
    _empty_file()
    s = splatfile.load(path).subset(np.arange(n))
    t0 = time.perf_counter()
    mesh = bpy.data.meshes.new("naive")
    mesh.from_pydata([tuple(p) for p in s.means.tolist()], [], [])
    obj = bpy.data.objects.new("naive", mesh)
    bpy.context.collection.objects.link(obj)
    columns = {
        "opacity": s.opacities, "scale_0": s.log_scales[:, 0], "scale_1": s.log_scales[:, 1],
        "scale_2": s.log_scales[:, 2], "rot_0": s.quats[:, 0], "rot_1": s.quats[:, 1],
        "rot_2": s.quats[:, 2], "rot_3": s.quats[:, 3], "f_dc_0": s.sh0[:, 0],
        "f_dc_1": s.sh0[:, 1], "f_dc_2": s.sh0[:, 2], "part_conf": s.part_conf,
    }  # fmt: skip
    for name, values in columns.items():
        attr = mesh.attributes.new(name, "FLOAT", "POINT")
        for i in range(n):
            attr.data[i].value = float(values[i])
    attr = mesh.attributes.new("part", "INT", "POINT")
    for i in range(n):
        attr.data[i].value = int(s.part[i])
    col = mesh.color_attributes.new("Col", "FLOAT_COLOR", "POINT")
    rgb = s.rgb()
    for i in range(n):
        col.data[i].color = (*rgb[i], 1.0)
    groups = {}
    for i in range(n):
        name = PART_NAMES[s.part[i]]
        vg = groups.get(name) or groups.setdefault(name, obj.vertex_groups.new(name=name))
        vg.add([i], 1.0, "REPLACE")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--naive-n", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/blender_import.md")
    args = parser.parse_args()

    sys.modules["torch"] = None  # describe_machine() must not load torch next to bpy
    machine = describe_machine()
    zip_path = build_addon.build(TMP / "dist")
    res = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    assert res == {"FINISHED"}
    addon = "bl_ext.user_default.humancrafter"
    path = TMP / "big.ply"
    semantic_file(args.n, path)

    load_before = os.getloadavg()[0]
    runs, naive_runs = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same load
        runs.append(fast_import(addon, path))
        naive_runs.append(naive_import(path, args.naive_n))
    load_after = os.getloadavg()[0]
    fast = statistics.median(r[0] for r in runs)
    parts = {k: statistics.median(r[1][k] for r in runs) for k in runs[0][1]}
    naive_sub = statistics.median(naive_runs)
    naive = naive_sub * args.n / args.naive_n
    speedup = naive / fast
    met = fast <= 0.5 and speedup >= 15
    lines = [
        "# Blender import benchmark",
        "",
        f"`benchmarks/bench_blender_import.py`, bpy {bpy.app.version_string}, "
        f"{time.strftime('%Y-%m-%d')}. Machine: {machine}. 1-minute load average before / "
        f"after: {load_before:.1f} / {load_after:.1f}.",
        "",
        f"Input: a {args.n:,}-splat semantic file (SH degree 0, all 28 part classes), "
        f"{path.stat().st_size / 1e6:.0f} MB.",
        "Output: a mesh object with every splat attribute, the colour attribute, part label "
        "and confidence, 28 part vertex groups, the display node set-up and the part list; "
        "each run imports into an emptied file (the display built from nothing).",
        "",
        "| pattern | time for 1M splats | notes |",
        "|---|---|---|",
        f"| add-on importer (`foreach_set`, numpy) | **{fast:.2f} s** | median of "
        f"{args.repeats}; " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()) + " |",
        f"| naive (`from_pydata` + per-point Python loops) | {naive:.1f} s | median of "
        f"{args.repeats} on {args.naive_n:,} splats ({naive_sub:.2f} s), extrapolated "
        "linearly |",
        "",
        f"Speed-up: **{speedup:.0f}x** (medians, same run). Target (issue 21): <= 0.5 s "
        f"and >= 15x ({'met' if met else 'NOT met'}). A change to the importer or the "
        "display re-runs this benchmark.",
        "",
        "All runs: add-on "
        + ", ".join(f"{r[0]:.2f} s" for r in runs)
        + "; naive subset "
        + ", ".join(f"{t:.2f} s" for t in naive_runs)
        + ".",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
