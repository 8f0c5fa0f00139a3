"""Benchmark: how faithfully Blender shows splats. Each shared sample is imported into
Blender and rendered (Cycles, CPU) from one camera with the Gaussian display and with
the old opaque ellipsoids (the same object, ``display.set_soft`` off, proxies of 1.5 σ,
opacity cut-off 0.05, as before), and the same splats are rendered by the project's own
rasterizer (``humancrafter.render.render_splats``) from the same camera. PSNR is taken
on the person's region (pixels where either image has alpha > 0.5), both over white.
Also times the display's viewport evaluation (Geometry Nodes, what the viewport waits
for; headless bpy cannot draw a viewport) and its final render for synthetic bodies.

bpy and torch never share a process: the script runs itself as a ``--child blender`` and
a ``--child torch`` process. Samples come from ``../shared/samples/*.ply`` (skipped when
absent, never copied). Writes ``benchmarks/results/blender_fidelity.md``.

    .venv/bin/python benchmarks/bench_blender_fidelity.py [--size 256] [--samples 32]
        [--timing-n 40000 1000000] [--render-timing-max 40000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
RESULT = ROOT / "benchmarks" / "results" / "blender_fidelity.md"
# the camera, in the model frame (y up, the person facing +z): in front, 2.4 units away
AZIMUTH, ELEVATION, RADIUS, FOV = 0.0, 0.0, 2.4, 30.0
HEIGHT_M = 1.0  # import height in Blender (any: the camera is placed through it)


def model_camera(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(eye (3,), rows (3, 3): right, down, forward) of the OpenCV camera, model frame."""
    az, el = math.radians(AZIMUTH), math.radians(ELEVATION)
    eye = RADIUS * np.array([math.cos(el) * math.sin(az), math.sin(el),
                             math.cos(el) * math.cos(az)])  # fmt: skip
    fwd = -eye / np.linalg.norm(eye)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    return eye, np.stack([right, down, fwd])


# ----------------------------------------------------------------------------- children


def child_torch(args) -> None:
    import torch

    from humancrafter.cameras import orbit_cameras
    from humancrafter.portable import splatfile
    from humancrafter.render import render_splats

    cams = orbit_cameras(AZIMUTH, ELEVATION, RADIUS, FOV, args.size, args.size)
    out = {}
    for path in args.files:
        s = splatfile.load(path)
        with torch.no_grad():
            r = render_splats(s, cams, background=(1.0, 1.0, 1.0))
        out[Path(path).stem + "_rgb"] = r.rgb[0].cpu().numpy()
        out[Path(path).stem + "_alpha"] = r.alpha[0, ..., 0].cpu().numpy()
    np.savez(args.out, **out)


def child_blender(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="hc-fid-"))
    os.environ["BLENDER_USER_RESOURCES"] = str(tmp / "blender")
    os.environ["HUMANCRAFTER_CONFIG_DIR"] = str(tmp / "config")
    sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests" / "blender")]
    import bpy
    import build_addon
    import mathutils

    from humancrafter.portable import splatfile

    zip_path = build_addon.build(tmp / "dist")
    bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    name = "bl_ext.user_default.humancrafter"
    display = sys.modules[name + ".display"]
    importer = sys.modules[name + ".importer"]
    operators = sys.modules[name + ".operators"]
    axes = sys.modules[name + ".axes"]
    scene = bpy.context.scene
    results: dict = {"images": {}, "timing": []}

    def clear() -> None:
        for coll in (bpy.data.objects, bpy.data.meshes, bpy.data.materials,
                     bpy.data.node_groups, bpy.data.cameras):  # fmt: skip
            for item in list(coll):
                coll.remove(item)

    def camera_for(obj) -> None:
        place = importer.placement_of(obj)
        eye, rows = model_camera(args.size)
        cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
        scene.collection.objects.link(cam)
        cam.data.sensor_fit, cam.data.angle_y = "VERTICAL", math.radians(FOV)
        cam.data.clip_start, cam.data.clip_end = 0.01, 100.0
        pos = place.points_to_blender(eye[None].astype(np.float32))[0]
        r = axes.model_to_blender_axes(rows.astype(np.float32))  # right, down, forward
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = r[0], -r[1], -r[2], pos
        cam.matrix_world = mathutils.Matrix(m.tolist())
        scene.camera = cam
        display.sync_camera(scene)

    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples = "CPU", args.samples
    scene.cycles.use_denoising = False
    scene.cycles.filter_width = 0.01  # pixel-centre samples, as the rasterizer's
    scene.render.resolution_x = scene.render.resolution_y = args.size
    scene.render.film_transparent = True
    scene.world = None
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.file_format = "OPEN_EXR"

    def render(tag: str) -> tuple[np.ndarray, float]:
        path = tmp / f"{tag}.exr"
        scene.render.filepath = str(path)
        t0 = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        dt = time.perf_counter() - t0
        img = bpy.data.images.load(str(path))
        px = np.array(img.pixels[:], np.float32).reshape(args.size, args.size, 4)[::-1]
        bpy.data.images.remove(img)
        lin = px[..., :3] + (1.0 - px[..., 3:4])  # premultiplied, over white (linear)
        srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.clip(lin, 0, None) ** (1 / 2.4)
                        - 0.055)  # fmt: skip
        return np.concatenate([np.clip(srgb, 0, 1), px[..., 3:4]], -1), dt

    def set_inputs(obj, **values) -> None:
        mod = obj.modifiers[display.MODIFIER]
        for name, value in values.items():  # the add-on's setter: one for every Blender
            display.set_input(mod, name, value)
        obj.update_tag()

    for path in args.files:
        clear()
        s = splatfile.load(path)
        obj, report = importer.create_object(s, Path(path).stem, HEIGHT_M, scene.collection)
        operators.present_import(obj, report, scene)
        camera_for(obj)
        new, t_new = render(Path(path).stem + "_new")
        display.set_soft(obj, False)  # the old display
        set_inputs(obj, **{"Size (sigma)": 1.5 * display.IN_RADIUS, "Opacity Cut-off": 0.05,
                           "Dilation (px²)": 0.0})  # fmt: skip
        old, t_old = render(Path(path).stem + "_old")
        key = Path(path).stem
        np.save(tmp / f"{key}_new.npy", new)
        np.save(tmp / f"{key}_old.npy", old)
        results["images"][key] = {"new": str(tmp / f"{key}_new.npy"),
                                  "old": str(tmp / f"{key}_old.npy"),
                                  "splats": len(s), "t_new": t_new, "t_old": t_old}  # fmt: skip

    from synth_body import body

    for n in args.timing_n:
        clear()
        s = body(n, seed=0)
        obj, report = importer.create_object(s, f"body{n}", 1.75, scene.collection)
        t0 = time.perf_counter()
        operators.present_import(obj, report, scene)
        dg = bpy.context.evaluated_depsgraph_get()
        dg.update()
        obj.evaluated_get(dg)
        t_view = time.perf_counter() - t0  # viewport evaluation (budget-thinned, realised)
        t_render = float("nan")
        if n <= args.render_timing_max:
            camera_for(obj)
            scene.cycles.samples = 8
            _, t_render = render(f"timing{n}")
            scene.cycles.samples = args.samples
        results["timing"].append({"n": n, "viewport_eval_s": t_view, "render_s": t_render,
                                  "render_samples": 8})  # fmt: skip
    Path(args.out).write_text(json.dumps(results))


# ----------------------------------------------------------------------------- parent


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    mse = float(((a - b) ** 2)[mask].mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", choices=["blender", "torch"])
    p.add_argument("--out")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--samples", type=int, default=32, help="Cycles samples per pixel")
    p.add_argument("--timing-n", type=int, nargs="*", default=[40_000])
    p.add_argument(
        "--render-timing-max",
        type=int,
        default=40_000,
        help="time the Cycles render only for bodies up to this many splats",
    )
    p.add_argument("--keep", help="also write reference | new | old PNG strips here")
    p.add_argument("files", nargs="*")
    args = p.parse_args()
    if args.child == "torch":
        return child_torch(args)
    if args.child == "blender":
        return child_blender(args)
    files = sorted(str(f) for f in SAMPLES.glob("*.ply")) if SAMPLES.is_dir() else []
    if not files:
        print(f"no samples in {SAMPLES}: skipped")
        return
    tmp = Path(tempfile.mkdtemp(prefix="hc-fid-"))
    common = ["--size", str(args.size), "--samples", str(args.samples)]
    me = [sys.executable, __file__]
    subprocess.run([*me, "--child", "torch", "--out", str(tmp / "ref.npz"), *common, *files],
                   check=True)  # fmt: skip
    timing = [str(n) for n in args.timing_n]
    subprocess.run([*me, "--child", "blender", "--out", str(tmp / "bl.json"), *common,
                    "--render-timing-max", str(args.render_timing_max),
                    "--timing-n", *timing, "--", *files], check=True)  # fmt: skip
    ref = np.load(tmp / "ref.npz")
    bl = json.loads((tmp / "bl.json").read_text())
    rows = []
    for key, info in bl["images"].items():
        rgb, alpha = ref[key + "_rgb"], ref[key + "_alpha"]
        new, old = np.load(info["new"]), np.load(info["old"])
        mask = (alpha > 0.5) | (new[..., 3] > 0.5) | (old[..., 3] > 0.5)
        if args.keep:
            from PIL import Image

            strip = np.concatenate([rgb, new[..., :3], old[..., :3]], 1)
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            Image.fromarray((strip * 255).round().astype(np.uint8)).save(
                Path(args.keep) / f"{key}.png"
            )
        rows.append((key, info["splats"], psnr(new[..., :3], rgb, mask),
                     psnr(old[..., :3], rgb, mask), info["t_new"], info["t_old"]))  # fmt: skip
    lines = [
        "# Blender display fidelity",
        "",
        f"`benchmarks/bench_blender_fidelity.py`, {args.size}² px, Cycles CPU "
        f"{args.samples} samples, camera in front ({RADIUS} units, {FOV:.0f}° vertical "
        "field of view, pixel filter 0.01 px); reference: "
        "`humancrafter.render.render_splats` (CPU) from the "
        "same camera. PSNR (dB) over white, on pixels where any of the three has alpha "
        "> 0.5. Machine: 2 cores shared with a training run (timings are pessimistic).",
        "",
        "| sample | splats | Gaussian display | old ellipsoids | gain | render new / old (s) |",
        "|---|---|---|---|---|---|",
    ]
    for key, n, p_new, p_old, t_new, t_old in rows:
        lines.append(f"| {key} | {n:,} | {p_new:.2f} | {p_old:.2f} | {p_new - p_old:+.2f} | "
                     f"{t_new:.1f} / {t_old:.1f} |")  # fmt: skip
    if rows:
        mean_new = np.mean([r[2] for r in rows])
        mean_old = np.mean([r[3] for r in rows])
        lines.append(f"| **mean** | | **{mean_new:.2f}** | **{mean_old:.2f}** | "
                     f"**{mean_new - mean_old:+.2f}** | |")  # fmt: skip
    lines += ["", "| synthetic splats | viewport evaluation (s) | Cycles render, 8 samples (s) |",
              "|---|---|---|"]  # fmt: skip
    for t in bl["timing"]:
        render_s = "not timed" if math.isnan(t["render_s"]) else f"{t['render_s']:.1f}"
        lines.append(f"| {t['n']:,} | {t['viewport_eval_s']:.2f} | {render_s} |")
    lines += ["", "Viewport evaluation = the display's Geometry Nodes in viewport mode "
              "(budget-thinned to the Viewport Budget, realised); headless bpy cannot time "
              "the GPU draw itself."]  # fmt: skip
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
