"""Render the user guide's add-on screenshots headless (``docs/images/addon_*.png``).

One command remakes them all (about 4 minutes on 2 CPU cores)::

    .venv/bin/python tools/addon_screenshots.py

It does what a user does, through the add-on's own operators, in headless ``bpy``:

1. reconstructs the bundled demo photo (``backend/humancrafter/assets/astronaut.jpg``)
   with the backend's CLI in its own process (``humancrafter reconstruct PHOTO -o
   FILE``: the default mode and splat count, i.e. what a user gets by default; never
   torch in this process), unless ``--result FILE`` gives a splat file;
2. installs the add-on zip into temporary Blender user folders and imports the file
   (*Import Gaussian Splats*, 1.75 m);
3. renders, each with the add-on's Gaussian display (Geometry Nodes + kernel material):

   - ``addon_rgb.png``: the splats in their own colours, Cycles on the CPU;
   - ``addon_rgb_eevee.png``: the same in EEVEE, the engine of the viewport's *Material
     Preview* (a viewport itself cannot be drawn headless: ``render.opengl`` needs a
     window);
   - ``addon_parts.png``: **Part colours** on (Cycles);
   - ``addon_posed.png``: *Create Armature* (the file's fitted skeleton), left arm
     raised, right leg out (Cycles);
   - ``addon_mesh.png``, ``addon_mesh_posed.png``: *Convert to Mesh* after rigging, at
     rest, then posed through the armature (waving), from three-quarters, lit by a sun
     (Cycles);
   - ``addon_recolour.png``: back at rest, *Recolour* of ``Upper_Clothing`` (Cycles);
   - ``addon_sample_rgb.png``: a published HumanCrafter output (``hc_novel_29.ply``,
     no labels) imported, when ``../shared/samples`` has it (Cycles).

Options: ``--shots rgb posed`` renders only those (names without ``addon_`` and
``.png``); ``--result FILE`` skips the reconstruction; ``--mode M`` asks the CLI for
another mode; ``--via-addon`` reconstructs through the add-on instead (*Start Local
Backend* from the preferences, then *Reconstruct* in the sidebar's default mode);
``--keep FILE`` keeps the reconstruction; ``--size W H``, ``--samples`` (Cycles),
``--eevee-samples``, ``--threads`` set the renders (360 x 480, 16, 16, all cores).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TMP = Path(tempfile.mkdtemp(prefix="hc-shots-"))
os.environ["BLENDER_USER_RESOURCES"] = str(TMP / "blender")  # before bpy loads
os.environ["HUMANCRAFTER_CONFIG_DIR"] = str(TMP / "config")
sys.path.insert(0, str(ROOT / "tools"))

import bpy  # noqa: E402
import build_addon  # noqa: E402

SAMPLES = ROOT.parent / "shared" / "samples"
DEMO_PHOTO = ROOT / "backend" / "humancrafter" / "assets" / "astronaut.jpg"
ADDON = "bl_ext.user_default.humancrafter"


def humancrafter_exe() -> str:
    return shutil.which("humancrafter") or str(ROOT / ".venv/bin/humancrafter")


def reconstruct_cli(photo: Path, out: Path, mode: str | None) -> None:
    """``humancrafter reconstruct photo -o out`` in its own process (torch stays there)."""
    cmd = [humancrafter_exe(), "reconstruct", str(photo), "-o", str(out)]
    if mode:
        cmd += ["--mode", mode]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def wait(ops, key: str, timeout: float) -> None:
    task = ops.TASKS[key]
    deadline = time.monotonic() + timeout
    while not task.join(0.25):
        ops.poll_tasks()  # what the add-on's timer does in the UI
        if time.monotonic() > deadline:
            raise TimeoutError(f"{key} did not finish in {timeout:.0f} s")
    ops.poll_tasks()


def reconstruct_addon(ops, st, photo: Path, mode: str | None) -> None:
    """Start the local backend from the preferences and reconstruct ``photo`` from the
    sidebar (its default mode unless ``mode`` is given)."""
    prefs = bpy.context.preferences.addons[ADDON].preferences
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    prefs.backend_url = f"http://127.0.0.1:{port}"
    prefs.start_command = f"{humancrafter_exe()} serve --port {port} --data-dir {TMP / 'data'}"
    prefs.start_wait_s = 120
    bpy.ops.humancrafter.start_backend()
    backend = ops.TASKS["backend"]
    try:
        wait(ops, "backend", 150)
        print(st.connection)
        st.source, st.filepath = "FILE", str(photo)
        if mode:
            st.mode = mode
        print(f"mode {st.mode}, {st.num_gaussians} splats")
        st.target_height = 1.75
        bpy.ops.humancrafter.reconstruct()
        wait(ops, "job", 600)
        print(st.message)
        if st.status != "done":
            raise SystemExit(f"reconstruction failed: {st.message}")
    finally:
        if backend.process is not None:
            backend.process.terminate()


def setup_scene(width: int, height: int, samples: int, threads: int) -> bpy.types.Object:
    scene = bpy.context.scene
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    cam.data.lens = 50
    scene.camera = cam
    world = bpy.data.worlds.new("World")
    world.color = (0.05, 0.05, 0.06)
    scene.world = world
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    if threads:
        scene.render.threads_mode, scene.render.threads = "FIXED", threads
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.compression = 100
    scene.view_settings.view_transform = "Standard"
    return cam


def frame(cam: bpy.types.Object, objects: list, margin: float = 1.1, turn: float = 0.0) -> None:
    """Aim the camera level at ``objects`` from the front (-Y, looking +Y), or ``turn``
    degrees further round them (positive: towards the person's left), so that they fill
    the frame (fitted at their front, so nothing nearer the camera is cut)."""
    import numpy as np

    chunks = []
    for o in objects:  # posed by the armature where there is one; the splat centres
        display = [mod for mod in o.modifiers if mod.type == "NODES" and mod.show_viewport]
        for mod in display:
            mod.show_viewport = False
        bpy.context.view_layer.update()
        ev = o.evaluated_get(bpy.context.evaluated_depsgraph_get())
        mesh = ev.to_mesh()
        co = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
        ev.to_mesh_clear()
        for mod in display:
            mod.show_viewport = True
        m = np.array(o.matrix_world)
        chunks.append(co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3])
    a = math.radians(turn)
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    pts = np.concatenate(chunks) @ rot  # into the turned camera's frame (rot.T @ p)
    lo, hi = pts.min(0), pts.max(0)
    centre = (lo + hi) / 2
    scene = bpy.context.scene
    aspect = scene.render.resolution_x / scene.render.resolution_y
    half_h = max((hi[2] - lo[2]) / 2, (hi[0] - lo[0]) / 2 / aspect) * margin
    fov = 2 * math.atan(18 / cam.data.lens)  # 36 mm sensor, fit = auto (the longer side)
    fov_v = fov if aspect < 1 else 2 * math.atan(math.tan(fov / 2) / aspect)
    eye = np.array([centre[0], lo[1] - half_h / math.tan(fov_v / 2), centre[2]])
    cam.location = tuple(rot @ eye)
    cam.rotation_euler = (math.pi / 2, 0, a)


def point_bone(rig: bpy.types.Object, name: str, direction: tuple) -> None:
    """Pose bone ``name`` so that it points along ``direction`` (armature space), given
    that its parent chain above it is posed already (evaluated in order)."""
    from mathutils import Vector

    bpy.context.view_layer.update()
    pb = rig.pose.bones[name]
    current = (pb.tail - pb.head).normalized()
    turn = current.rotation_difference(Vector(direction).normalized())
    basis = pb.matrix.to_3x3()
    pb.rotation_mode = "QUATERNION"
    local = basis.inverted() @ turn.to_matrix() @ basis
    pb.rotation_quaternion = (pb.rotation_quaternion.to_matrix() @ local).to_quaternion()


def pose(rig: bpy.types.Object, targets: dict) -> None:
    """Point bones in new directions; the fitted skeleton has SMPL joint names, the part
    rig (files without a skeleton) part names."""
    for names, direction in targets.items():
        for name in names:
            if name in rig.pose.bones:
                point_bone(rig, name, direction)


def rest(rig: bpy.types.Object) -> None:
    for bone in rig.pose.bones:
        bone.rotation_mode = "QUATERNION"
        bone.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
    bpy.context.view_layer.update()


SHOTS: set[str] = set()
"""Names (without ``addon_`` and ``.png``) of the shots to render; empty = all."""
TIMES: dict[str, float] = {}


def render(path: Path, engine: str = "CYCLES") -> None:
    if SHOTS and path.stem.removeprefix("addon_") not in SHOTS:
        return
    scene = bpy.context.scene
    scene.render.engine = engine
    scene.render.filepath = str(path)
    t0 = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    TIMES[path.name] = time.perf_counter() - t0
    scene.render.engine = "CYCLES"
    print(f"wrote {path} ({engine}, {TIMES[path.name]:.1f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=DEMO_PHOTO)
    parser.add_argument("--mode", help="reconstruction mode (default: the backend's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--size", type=int, nargs=2, default=(360, 480))
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    parser.add_argument("--eevee-samples", type=int, default=16, help="EEVEE render samples")
    parser.add_argument("--threads", type=int, default=0, help="render threads (0: all)")
    parser.add_argument("--shots", nargs="*", default=[], help="only these, e.g. posed mesh")
    parser.add_argument("--keep", type=Path, help="also save the reconstruction here")
    parser.add_argument("--result", type=Path, help="use this splat file instead of reconstructing")
    parser.add_argument(
        "--via-addon", action="store_true",
        help="reconstruct through the add-on (Start Local Backend, Reconstruct)",
    )  # fmt: skip
    args = parser.parse_args()
    SHOTS.update(args.shots)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    result = args.result
    if result is None and not args.via_addon:
        result = args.keep or TMP / f"{args.photo.stem}.ply"
        reconstruct_cli(args.photo, result, args.mode)

    zip_path = build_addon.build(TMP / "dist")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    res = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    assert res == {"FINISHED"}
    ops = sys.modules[ADDON + ".operators"]
    st = bpy.context.scene.humancrafter
    if result is not None:
        bpy.ops.humancrafter.import_splats(filepath=str(result), target_height=1.75)
    else:
        reconstruct_addon(ops, st, args.photo, args.mode)
        if args.keep is not None:
            bpy.ops.humancrafter.export_ply(filepath=str(args.keep))
    person = bpy.context.view_layer.objects.active
    print(f"{person.name}: {len(person.data.vertices):,} splats")
    cam = setup_scene(*args.size, args.samples, args.threads)
    bpy.context.scene.eevee.taa_render_samples = args.eevee_samples
    frame(cam, [person])
    render(args.out / "addon_rgb.png")
    render(args.out / "addon_rgb_eevee.png", "BLENDER_EEVEE")
    person.hc_show_part_colours = True
    render(args.out / "addon_parts.png")
    person.hc_show_part_colours = False

    bpy.ops.humancrafter.create_armature()
    rig = bpy.data.objects[person["hc_rig"]]
    pose(rig, {  # point bones in new directions (armature space)
        ("left_shoulder", "Left_Upper_Arm"): (0.35, 0.0, 1.0),  # left arm raised overhead
        ("left_elbow", "Left_Lower_Arm"): (0.2, 0.0, 1.0),
        ("right_hip", "Right_Upper_Leg"): (-0.7, 0.0, -0.7),  # right leg out sideways
        ("right_knee", "Right_Lower_Leg"): (0.0, 0.0, -1.0),
    })  # fmt: skip
    frame(cam, [person])
    render(args.out / "addon_posed.png")

    rest(rig)  # convert at rest, then pose the game mesh through the same armature
    bpy.context.view_layer.objects.active = person
    bpy.ops.humancrafter.convert_mesh()
    mesh = bpy.context.view_layer.objects.active
    print(f"{mesh.name}: {len(mesh.data.vertices):,} vertices")
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy = 4.0
    sun.rotation_euler = (math.radians(50), 0, math.radians(-30))  # front, camera side
    bpy.context.scene.collection.objects.link(sun)
    person.hide_render = True
    frame(cam, [mesh], turn=-35.0)  # three-quarter view from the person's right
    render(args.out / "addon_mesh.png")
    pose(rig, {  # waving with the right hand, the left arm forward
        ("right_shoulder", "Right_Upper_Arm"): (-0.85, -0.2, 0.5),
        ("right_elbow", "Right_Lower_Arm"): (-0.25, -0.25, 1.0),
        ("left_shoulder", "Left_Upper_Arm"): (0.35, -0.4, -0.85),
    })  # fmt: skip
    frame(cam, [mesh], turn=-35.0)
    render(args.out / "addon_mesh_posed.png")
    bpy.data.objects.remove(sun)
    person.hide_render = False
    mesh.hide_render = True

    rest(rig)
    bpy.context.view_layer.objects.active = person
    bpy.ops.humancrafter.part_recolour(part="Upper_Clothing", colour=(0.02, 0.12, 0.6))
    frame(cam, [person])
    render(args.out / "addon_recolour.png")

    sample = SAMPLES / "hc_novel_29.ply"
    if sample.is_file() and (not SHOTS or "sample_rgb" in SHOTS):
        for ob in list(bpy.context.scene.objects):
            if ob.type != "CAMERA":
                bpy.data.objects.remove(ob)
        bpy.ops.humancrafter.import_splats(filepath=str(sample), target_height=1.75)
        obj = bpy.context.view_layer.objects.active
        frame(cam, [obj])
        render(args.out / "addon_sample_rgb.png")
    shutil.rmtree(TMP, ignore_errors=True)
    shots = ", ".join(f"{k} {v:.0f} s" for k, v in TIMES.items())
    print(f"done in {time.perf_counter() - t_start:.0f} s ({shots})")


if __name__ == "__main__":
    main()
