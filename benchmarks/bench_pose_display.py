"""Benchmark: the display's pose rotations (``rigging.update_pose_rotation``, what the
pose handler runs) on synthetic people rigged from their parts (3 cm smoothing, so
splats near joints blend 2-3 bones): the handler when nothing moved, the update after a
pose change (bone matrices, blend, nearest rotation, quaternions, the attribute write),
reading the weights back from the vertex groups (once per object and session, e.g.
after opening a file), and one viewport evaluation of the posed object. Headless
``bpy``; the add-on's modules are loaded from ``addon/`` as a package without
registering it. Writes ``benchmarks/results/pose_display.md``.

    .venv/bin/python benchmarks/bench_pose_display.py [N ...]
"""

from __future__ import annotations

import datetime
import importlib
import math
import os
import platform
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "blender")]

import bpy  # noqa: E402
from synth_body import body  # noqa: E402


def _addon(name: str) -> types.ModuleType:
    if "hc_bench_addon" not in sys.modules:
        package = types.ModuleType("hc_bench_addon")
        package.__path__ = [str(ROOT / "addon")]
        sys.modules["hc_bench_addon"] = package
    return importlib.import_module(f"hc_bench_addon.{name}")


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _measure(n: int) -> str:
    importer, rigging, display = _addon("importer"), _addon("rigging"), _addon("display")
    from mathutils import Matrix

    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    obj, _ = importer.create_object(body(n, seed=3), "P", 1.75)
    display.ensure_display(obj)
    bpy.context.view_layer.objects.active = obj
    start = time.perf_counter()
    arm, _ = rigging.create_armature(obj, 0.03)
    rig_s = time.perf_counter() - start
    scene = bpy.context.scene
    bpy.context.view_layer.update()
    rigging.pose_changed(scene)
    idle = _best(lambda: rigging.pose_changed(scene), 5)
    pb = arm.pose.bones["Left_Upper_Arm"]
    seconds = []
    for k in range(1, 4):
        pb.matrix_basis = Matrix.Rotation(math.pi / 2 * (k % 2), 4, "Z")
        bpy.context.view_layer.update()  # the armature, not yet the splats
        start = time.perf_counter()
        assert rigging.update_pose_rotation(obj)
        seconds.append(time.perf_counter() - start)
    rigging._WEIGHTS.clear()  # as after opening the file
    start = time.perf_counter()
    rigging.update_pose_rotation(obj, force=True)
    cold = time.perf_counter() - start
    dg = bpy.context.evaluated_depsgraph_get()
    evaluate = _best(lambda: (obj.update_tag(), dg.update()))
    return (
        f"| {n:,} | {rig_s:.2f} | {idle * 1e3:.2f} ms | {min(seconds):.3f} | "
        f"{cold:.2f} | {evaluate:.2f} |"
    )


def main(sizes: list[int]) -> None:
    rows = []
    for n in sizes:
        rows.append(_measure(n))
        print(rows[-1], flush=True)
    lines = [
        "# Pose rotations of the display",
        "",
        f"`benchmarks/bench_pose_display.py`, bpy {bpy.app.version_string}, "
        f"{os.cpu_count()} CPU cores ({platform.machine()}), {datetime.date.today()}; "
        "synthetic people rigged from their parts, 3 cm smoothing; the pose turns the "
        "left upper arm (its subtree, about 13 % of the splats, moves). Idle = the "
        "handler when no pose changed (best of 5); update = the pose rotations after a "
        "pose change, written to the attribute (best of 3); cold = the same with the "
        "weights read back from the vertex groups first (once per object and session, "
        "e.g. after opening the file); evaluation = one viewport evaluation of the posed "
        "object (armature + display at its default 100,000-splat budget). A pose change "
        "evaluates the object twice: once as the armature moves, once after the "
        "handler's write.",
        "",
        "| splats | rig (s) | idle | update (s) | cold update (s) | evaluation (s) |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    (Path(__file__).parent / "results" / "pose_display.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [40_000, 1_000_000])
