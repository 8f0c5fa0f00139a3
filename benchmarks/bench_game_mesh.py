"""Benchmark: *Convert to Mesh* and the game export on synthetic people and the shared
HumanCrafter samples, at three voxel sizes: time, vertices, triangles, watertightness,
Euler characteristic, GLB / FBX export time and what the Khronos glTF-Validator says
about the GLB. Headless ``bpy``; the add-on's modules are loaded from ``addon/`` as a
package without registering it. Synthetic (labelled) people are rigged first (3 cm
smoothing), so their meshes are skinned; the samples have no labels, so theirs are not.
The sample photos are also reconstructed in ``fast`` mode with the shipped checkpoint
(the network's splats: many faint ones), labelled and rigged from the fitted body.
Writes ``benchmarks/results/game_mesh.md``.

    .venv/bin/python benchmarks/bench_game_mesh.py
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "blender")]

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from gltf_validator import messages, validator  # noqa: E402
from synth_body import body  # noqa: E402

from humancrafter.photo import load_image  # noqa: E402
from humancrafter.pipeline import Pipeline, ReconstructOptions  # noqa: E402
from humancrafter.portable import splatfile  # noqa: E402

SAMPLES = ROOT.parent / "shared" / "samples"
VOXELS = (0.01, 0.015, 0.02)


def _addon(name: str) -> types.ModuleType:
    if "hc_bench_addon" not in sys.modules:
        package = types.ModuleType("hc_bench_addon")
        package.__path__ = [str(ROOT / "addon")]
        sys.modules["hc_bench_addon"] = package
    return importlib.import_module(f"hc_bench_addon.{name}")


def main() -> None:
    importer, rigging = _addon("importer"), _addon("rigging")
    game_mesh, mc = _addon("game_mesh"), _addon("portable.mesh_convert")
    run = validator()
    sources = [(f"synthetic, {n:,}", body(n, seed=3)) for n in (40_000, 100_000)]
    sources += [(p.stem, splatfile.load(p)) for p in sorted(SAMPLES.glob("*.ply"))]
    photos = sorted(SAMPLES.glob("*.png"))
    if photos:  # the network's own results on the sample photos
        pipeline = Pipeline("cpu")
        for photo in photos:
            result = pipeline.run([load_image(photo)], ReconstructOptions(mode="fast"))
            sources.append((f"{photo.stem} (fast)", result.splats))
    out = Path(tempfile.mkdtemp(prefix="hc-bench-mesh-"))
    rows, notes = [], set()
    for name, s in sources:
        for voxel in VOXELS:
            for o in list(bpy.data.objects):
                bpy.data.objects.remove(o)
            obj, _ = importer.create_object(s, "P", 1.75)
            bpy.context.view_layer.objects.active = obj
            if s.labelled:
                rigging.create_armature(obj, 0.03)
            start = time.perf_counter()
            mesh, report = game_mesh.convert(obj, voxel)
            seconds = time.perf_counter() - start
            loops = np.zeros(len(mesh.data.loops), np.int32)
            mesh.data.loops.foreach_get("vertex_index", loops)
            co = np.zeros(len(mesh.data.vertices) * 3, np.float32)
            mesh.data.vertices.foreach_get("co", co)
            top = mc.topology(mc.Surface(co.reshape(-1, 3), loops.reshape(-1, 3)))
            timed = {}
            for suffix in (".glb", ".fbx"):
                start = time.perf_counter()
                game_mesh.export(mesh, out / f"m{suffix}")
                timed[suffix] = time.perf_counter() - start
            verdict = "not run"
            if not isinstance(run, str):
                r = run(out / "m.glb")
                issues = r["issues"]
                verdict = f"{issues['numErrors']} / {issues['numWarnings']} / {issues['numInfos']}"
                notes |= {code for sev in (1, 2, 3) for code, _ in messages(r, sev)}
            rows.append(
                f"| {name} | {len(s):,} | {voxel * 100:g} cm | {seconds:.1f} | "
                f"{len(mesh.data.vertices):,} | {len(mesh.data.polygons):,} | "
                f"{'yes' if top.closed else 'NO'} | {top.components} | {top.euler} | "
                f"{report.bones or '-'} | "
                f"{timed['.glb']:.1f} / {timed['.fbx']:.1f} | {verdict} |"
            )
            print(rows[-1], flush=True)
    lines = [
        "# Convert to mesh and game export",
        "",
        f"`benchmarks/bench_game_mesh.py`, bpy {bpy.app.version_string}, "
        f"{os.cpu_count()} CPU cores ({platform.machine()}), {datetime.date.today()}; "
        "people 1.75 m tall. Convert = "
        "surface + colours, parts and bone weights carried over + the Blender object. "
        "Closed = every edge has exactly two triangles that agree on the orientation. "
        "Pieces = connected pieces kept. "
        "Euler = V - E + F (2 for a sphere-like surface; each handle, e.g. an arm touching "
        "the body, takes 2 off). Validator: errors / warnings / infos of the Khronos "
        "glTF-Validator on the GLB"
        + (f" (messages: {', '.join(sorted(notes))})." if notes else "."),
        "",
        "| input | splats | voxel | convert (s) | vertices | triangles | closed | pieces | Euler "
        "| bones | GLB / FBX export (s) | validator |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "The `(fast)` rows are `fast`-mode reconstructions of the sample photos with the "
        "shipped checkpoint. At 1 cm the network's noise can leave a result in several "
        "pieces with many small handles (the negative Euler numbers); at the default "
        "1.5 cm and at 2 cm each should be one closed piece.",
    ]
    (Path(__file__).parent / "results" / "game_mesh.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
