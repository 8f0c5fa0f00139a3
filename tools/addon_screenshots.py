"""Render the user guide's add-on screenshots headless (``docs/images/addon_*.png``).

Does what a new user does, through the add-on's own operators: installs the zip into
temporary Blender user folders, starts the local backend from the preferences,
reconstructs a photo (``fast`` mode, the default), shows it in RGB and in part colours,
recolours a part, rigs it from the fitted skeleton and poses it, converts it to a mesh; plus
an imported published sample. Renders with Cycles on the CPU (``--engine BLENDER_EEVEE``
to try EEVEE).

    .venv/bin/python tools/addon_screenshots.py [--photo PATH] [--out docs/images]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
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
ADDON = "bl_ext.user_default.humancrafter"


def wait(ops, key: str, timeout: float) -> None:
    task = ops.TASKS[key]
    deadline = time.monotonic() + timeout
    while not task.join(0.25):
        ops.poll_tasks()  # what the add-on's timer does in the UI
        if time.monotonic() > deadline:
            raise TimeoutError(f"{key} did not finish in {timeout:.0f} s")
    ops.poll_tasks()


def reconstruct(ops, st, photo: Path, keep: Path | None) -> None:
    """Start the local backend from the preferences and reconstruct ``photo``."""
    prefs = bpy.context.preferences.addons[ADDON].preferences
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("humancrafter") or str(ROOT / ".venv/bin/humancrafter")
    prefs.backend_url = f"http://127.0.0.1:{port}"
    prefs.start_command = f"{exe} serve --port {port} --data-dir {TMP / 'data'}"
    prefs.start_wait_s = 120
    bpy.ops.humancrafter.start_backend()
    backend = ops.TASKS["backend"]
    try:
        wait(ops, "backend", 150)
        print(st.connection)
        st.source, st.filepath, st.mode = "FILE", str(photo), "fast"
        st.num_gaussians, st.target_height = 60_000, 1.75
        bpy.ops.humancrafter.reconstruct()
        wait(ops, "job", 600)
        print(st.message)
        if st.status != "done":
            raise SystemExit(f"reconstruction failed: {st.message}")
    finally:
        if backend.process is not None:
            backend.process.terminate()
    if keep is not None:
        bpy.ops.humancrafter.export_ply(filepath=str(keep))


def setup_scene(
    engine: str, width: int, height: int, samples: int, threads: int
) -> bpy.types.Object:
    scene = bpy.context.scene
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    cam.data.lens = 50
    scene.camera = cam
    world = bpy.data.worlds.new("World")
    world.color = (0.05, 0.05, 0.06)
    scene.world = world
    scene.render.engine = engine
    if engine == "CYCLES":
        scene.cycles.device = "CPU"
        scene.cycles.samples = samples
    if threads:
        scene.render.threads_mode, scene.render.threads = "FIXED", threads
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.view_settings.view_transform = "Standard"
    return cam


def frame(cam: bpy.types.Object, objects: list, margin: float = 1.15) -> None:
    """Put the camera in front (-Y, looking +Y) so that ``objects`` fill the frame."""
    import numpy as np

    chunks = []
    for o in objects:
        co = np.empty(len(o.data.vertices) * 3, np.float32)
        o.data.vertices.foreach_get("co", co)
        m = np.array(o.matrix_world)
        chunks.append(co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3])
    pts = np.concatenate(chunks)
    lo, hi = pts.min(0), pts.max(0)
    centre = (lo + hi) / 2
    scene = bpy.context.scene
    aspect = scene.render.resolution_x / scene.render.resolution_y
    half_h = max((hi[2] - lo[2]) / 2, (hi[0] - lo[0]) / 2 / aspect) * margin
    fov = 2 * math.atan(18 / cam.data.lens)  # 36 mm sensor width, fit = auto
    fov_v = fov if aspect < 1 else 2 * math.atan(math.tan(fov / 2) / aspect)
    dist = half_h / math.tan(fov_v / 2) + (hi[1] - lo[1])
    cam.location = (centre[0], lo[1] - dist, centre[2])
    cam.rotation_euler = (math.pi / 2, 0, 0)


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


SHOTS: set[str] = set()
"""Names (without ``addon_`` and ``.png``) of the shots to render; empty = all."""


def render(path: Path) -> None:
    if SHOTS and path.stem.removeprefix("addon_") not in SHOTS:
        return
    bpy.context.scene.render.filepath = str(path)
    t0 = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    print(f"{path.name}: {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_photo = SAMPLES / "hc_novel_10.png"
    if not default_photo.is_file():
        default_photo = ROOT / "backend/humancrafter/assets/astronaut.jpg"
    parser.add_argument("--photo", type=Path, default=default_photo)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--engine", default="CYCLES", choices=["CYCLES", "BLENDER_EEVEE"])
    parser.add_argument("--size", type=int, nargs=2, default=(480, 640))
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    parser.add_argument("--threads", type=int, default=0, help="render threads (0: all)")
    parser.add_argument("--shots", nargs="*", default=[], help="only these, e.g. posed mesh")
    parser.add_argument("--keep", type=Path, help="also save the reconstruction here")
    parser.add_argument(
        "--result", type=Path, help="use this splat file instead of reconstructing (no backend)"
    )
    args = parser.parse_args()
    SHOTS.update(args.shots)
    args.out.mkdir(parents=True, exist_ok=True)

    zip_path = build_addon.build(TMP / "dist")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    res = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    assert res == {"FINISHED"}
    ops = sys.modules[ADDON + ".operators"]
    st = bpy.context.scene.humancrafter
    if args.result:
        bpy.ops.humancrafter.import_splats(filepath=str(args.result), target_height=1.75)
    else:
        reconstruct(ops, st, args.photo, args.keep)
    person = bpy.context.view_layer.objects.active
    cam = setup_scene(args.engine, *args.size, args.samples, args.threads)
    frame(cam, [person])
    render(args.out / "addon_rgb.png")
    person.hc_show_part_colours = True
    render(args.out / "addon_parts.png")
    person.hc_show_part_colours = False
    bpy.ops.humancrafter.part_recolour(part="Upper_Clothing", colour=(0.6, 0.02, 0.02))
    render(args.out / "addon_recolour.png")

    bpy.ops.humancrafter.create_armature(smooth=0.03)
    rig = bpy.data.objects[f"{person.name} Rig"]
    # point bones in new world directions (rest pose, armature space); the fitted skeleton
    # has SMPL joint names, the part rig (files without a skeleton) part names
    targets = {
        ("left_shoulder", "Left_Upper_Arm"): (0.35, 0.0, 1.0),  # left arm raised overhead
        ("left_elbow", "Left_Lower_Arm"): (0.2, 0.0, 1.0),
        ("right_hip", "Right_Upper_Leg"): (-0.7, 0.0, -0.7),  # right leg kicked sideways
        ("right_knee", "Right_Lower_Leg"): (0.0, 0.0, -1.0),
    }
    for names, direction in targets.items():
        for name in names:
            if name in rig.pose.bones:
                point_bone(rig, name, direction)
    person.hc_show_part_colours = True
    frame(cam, [person], margin=1.35)
    render(args.out / "addon_posed.png")
    person.hc_show_part_colours = False

    for bone in rig.pose.bones:  # back to the rest pose, then the game mesh
        bone.rotation_mode = "QUATERNION"
        bone.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
    bpy.context.view_layer.objects.active = person
    bpy.ops.humancrafter.convert_mesh()
    mesh = bpy.context.view_layer.objects.active
    game_pose = {  # a game-style pose for the skinned mesh: arms forward, a step out
        ("left_shoulder", "Left_Upper_Arm"): (0.35, -0.9, -0.15),
        ("right_shoulder", "Right_Upper_Arm"): (-0.35, -0.9, -0.15),
        ("left_hip", "Left_Upper_Leg"): (0.1, -0.45, -0.9),
    }
    for names, direction in game_pose.items():
        for name in names:
            if name in rig.pose.bones:
                point_bone(rig, name, direction)
    person.hide_render = True
    frame(cam, [mesh], margin=1.3)
    render(args.out / "addon_mesh.png")
    person.hide_render = False
    mesh.hide_render = True

    sample = SAMPLES / "hc_novel_29.ply"
    if sample.is_file():
        for ob in list(bpy.context.scene.objects):
            if ob.type != "CAMERA":
                bpy.data.objects.remove(ob)
        bpy.ops.humancrafter.import_splats(filepath=str(sample), target_height=1.75)
        obj = bpy.context.view_layer.objects.active
        frame(cam, [obj])
        render(args.out / "addon_sample_rgb.png")
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
