"""``humancrafter mesh`` (``humancrafter/mesh_export.py``): a rigged splat person -> GLB,
OBJ and PLY, read back with trimesh (closed, positive volume, colours, part names), the
GLB checked by the Khronos glTF-Validator and posed by linear blend skinning computed
from its own ``JOINTS_0`` / ``WEIGHTS_0`` / inverse bind matrices; the command line.

The person: the mannequin's dressed surface (40,000 samples, the size of a default
reconstruction) as opaque splats, rigged to its SMPL skeleton by
:func:`humancrafter.body.skinning.rig`, as the ``prior`` mode rigs its splats.
"""

from __future__ import annotations

import dataclasses
import io
import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "blender"))

from gltf_validator import messages, validator  # noqa: E402
from synth_body import body  # noqa: E402

from humancrafter import cli, mesh_export  # noqa: E402
from humancrafter.portable import splatfile  # noqa: E402
from humancrafter.portable.parts import PART_IDS  # noqa: E402
from humancrafter.portable.splatfile import Splats  # noqa: E402

FEET = ("Left_Foot", "Right_Foot", "Left_Shoe", "Right_Shoe", "Left_Sock", "Right_Sock")


@pytest.fixture(scope="module")
def person() -> Splats:
    import torch

    from humancrafter.body import mannequin, skinning
    from humancrafter.body.appearance import Appearance
    from humancrafter.body.params import BodyParams

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        params = BodyParams.neutral()
        samples = mannequin.sample_surface(params, Appearance.sample(np.random.default_rng(3)),
                                           40_000, seed=1)  # fmt: skip
        joints = mannequin.joints(params).detach().numpy()
    finally:
        torch.set_num_threads(threads)
    n = len(samples)
    scale = np.sqrt(samples.area.numpy() / np.pi)[:, None].repeat(3, 1)
    s = Splats.from_activated(
        samples.points.detach().numpy(), samples.rgb.numpy(), np.full(n, 0.9), scale,
        np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)), samples.part.numpy(), np.ones(n),
    )  # fmt: skip
    return skinning.rig(s, joints, samples.bone.numpy())


@pytest.fixture(scope="module")
def character(person: Splats) -> tuple[mesh_export.CharacterMesh, float]:
    start = time.perf_counter()
    mesh = mesh_export.build(person)
    return mesh, time.perf_counter() - start


@pytest.fixture(scope="module")
def glb(character, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mesh") / "character.glb"
    path.write_bytes(mesh_export.glb_bytes(character[0]))
    return path


# ----------------------------------------------------------------------------- a GLB reader

_COMPONENTS = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTHS = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def read_glb(path: Path) -> tuple[dict, callable]:
    """(glTF JSON, accessor index -> array) of a GLB, parsed here (not by trimesh), so the
    test reads exactly what an engine would."""
    data = path.read_bytes()
    magic, version, total = struct.unpack_from("<4sII", data)
    assert magic == b"glTF" and version == 2 and total == len(data)
    jlen, jtype = struct.unpack_from("<I4s", data, 12)
    doc = json.loads(data[20 : 20 + jlen])
    blen, btype = struct.unpack_from("<I4s", data, 20 + jlen)
    assert (jtype, btype) == (b"JSON", b"BIN\x00")
    blob = data[28 + jlen : 28 + jlen + blen]

    def accessor(i: int) -> np.ndarray:
        acc = doc["accessors"][i]
        view = doc["bufferViews"][acc["bufferView"]]
        assert "byteStride" not in view
        width = _WIDTHS[acc["type"]]
        a = np.frombuffer(blob, _COMPONENTS[acc["componentType"]], acc["count"] * width,
                          view["byteOffset"] + acc.get("byteOffset", 0))  # fmt: skip
        a = a.reshape(acc["count"], width) if width > 1 else a
        if acc.get("normalized"):
            a = a / float(np.iinfo(a.dtype).max)
        return a

    return doc, accessor


def _trs(node: dict, rotation: np.ndarray | None = None) -> np.ndarray:
    m = np.eye(4)
    x, y, z, w = node.get("rotation", [0.0, 0.0, 0.0, 1.0]) if rotation is None else rotation
    m[:3, :3] = mesh_export.quat_matrix(np.array([x, y, z, w]))
    m[:3, 3] = node.get("translation", [0.0, 0.0, 0.0])
    return m


def world_matrices(doc: dict, joints: list[int], turn: dict[int, np.ndarray]) -> np.ndarray:
    """(J, 4, 4) world matrices of the skin's ``joints`` nodes, with the local rotation of
    the nodes in ``turn`` (node -> x y z w) replaced (parents come first in our files)."""
    parent = {c: i for i, n in enumerate(doc["nodes"]) for c in n.get("children", [])}
    world: dict[int, np.ndarray] = {}

    def get(i: int) -> np.ndarray:
        if i not in world:
            local = _trs(doc["nodes"][i], turn.get(i))
            world[i] = local if i not in parent else get(parent[i]) @ local
        return world[i]

    return np.stack([get(j) for j in joints])


def skinned(doc: dict, accessor, turn: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
    """Part name -> (V, 3) vertex positions posed by linear blend skinning (glTF's
    ``sum_k w_k * world(joint_k) @ inverseBind(joint_k) @ v``)."""
    (skin,) = doc["skins"]
    ibm = accessor(skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)
    mats = world_matrices(doc, skin["joints"], turn) @ ibm
    out = {}
    for node in doc["nodes"]:
        if "mesh" not in node:
            continue
        assert node["skin"] == 0 and not {"translation", "rotation", "matrix"} & set(node)
        (prim,) = doc["meshes"][node["mesh"]]["primitives"]
        a = prim["attributes"]
        p = accessor(a["POSITION"])
        v = np.concatenate([p, np.ones((len(p), 1))], 1)
        j, w = accessor(a["JOINTS_0"]).astype(np.int64), accessor(a["WEIGHTS_0"])
        blended = (mats[j] * w[:, :, None, None]).sum(1)  # (V, 4, 4)
        out[node["name"]] = np.einsum("vij,vj->vi", blended, v)[:, :3]
    return out


# ----------------------------------------------------------------------------- GLB


def test_glb_reads_back_closed_coloured_with_part_names(character, glb, person) -> None:
    mesh, seconds = character
    scene = trimesh.load(glb)
    names = {n for n, _ in mesh.groups()}
    assert set(scene.geometry) == names and len(names) >= 12
    assert {"Hair", "Face_Neck", "Left_Hand", "Right_Lower_Leg"} <= names
    for g in scene.geometry.values():
        colour = g.visual.vertex_attributes["color"]  # COLOR_0, kept by trimesh's loader
        assert len(colour) == len(g.vertices) and np.ptp(colour) > 0
    whole = trimesh.util.concatenate(list(scene.geometry.values()))
    whole.merge_vertices()  # the part borders, repeated in both parts, weld back
    assert len(whole.vertices) == len(mesh.vertices) and len(whole.faces) == len(mesh.faces)
    assert whole.is_watertight and whole.is_winding_consistent
    assert 0.03 < whole.volume < 0.3  # m³: a person 1.75 m tall, faces pointing out
    lo, hi = whole.bounds
    assert -0.05 < lo[1] < 0.0 and 1.75 < hi[1] < 1.8  # feet on the ground, 1.75 m
    assert abs(lo[0] + hi[0]) < 0.05 and abs(lo[2] + hi[2]) < 0.1  # centred
    assert mesh.closed and 20_000 < len(mesh.vertices) < 150_000
    assert seconds < 60, seconds  # about 2 s on an idle 2-core machine
    # the colours are the splats' own (linear in glTF): the top's colour on its vertices
    top = PART_IDS["Upper_Clothing"]
    assert (person.part == top).sum() > 1000
    expected = np.median(mesh_export.srgb_to_linear(person.rgb()[person.part == top]), 0)
    got = np.median(mesh.colours[mesh.part == top], 0)
    np.testing.assert_allclose(got, expected, atol=0.05)


def test_glb_passes_the_khronos_validator(glb) -> None:
    run = validator()
    if isinstance(run, str):
        pytest.skip(run)
    report = run(glb)
    assert report["issues"]["numErrors"] == 0, messages(report, 0)
    assert report["issues"]["numWarnings"] == 0, messages(report, 1)
    assert report["info"]["hasSkins"] and report["info"]["maxInfluences"] == 4


def test_skin_holds_the_skeleton_and_poses_the_left_forearm_only(character, glb, person) -> None:
    mesh, _ = character
    doc, accessor = read_glb(glb)
    (skin,) = doc["skins"]
    names = [doc["nodes"][j]["name"] for j in skin["joints"]]
    assert names == list(person.skeleton.names) and len(names) == 24
    # the joints sit where the file's skeleton is, placed as the mesh is
    at = world_matrices(doc, skin["joints"], {})[:, :3, 3]
    np.testing.assert_allclose(at, mesh_export.Placement.fit(person.means, 1.75).points(
        person.skeleton.joints), atol=1e-5)  # fmt: skip
    # each joint's +Y runs along its bone, to the child Skeleton.tail_children names
    world = world_matrices(doc, skin["joints"], {})
    tails = person.skeleton.tail_children()
    elbow = names.index("left_elbow")
    assert names[tails[elbow]] == "left_wrist"
    bone = at[tails[elbow]] - at[elbow]
    np.testing.assert_allclose(world[elbow, :3, 1], bone / np.linalg.norm(bone), atol=1e-5)
    # weights: 4 per vertex, summing to 1, joints 0 where unused
    rest = skinned(doc, accessor, {})
    for node in doc["nodes"]:
        if "mesh" in node:
            a = doc["meshes"][node["mesh"]]["primitives"][0]["attributes"]
            w, j = accessor(a["WEIGHTS_0"]), accessor(a["JOINTS_0"])
            np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
            assert (j[w == 0] == 0).all()
            np.testing.assert_allclose(rest[node["name"]], accessor(a["POSITION"]), atol=1e-5)
    # bend the left elbow by 90 degrees about its own X axis
    local = mesh_export.quat_matrix(doc["nodes"][skin["joints"][elbow]]["rotation"])
    bend = mesh_export.quat_matrix(np.array([np.sin(np.pi / 4), 0.0, 0.0, np.cos(np.pi / 4)]))
    q = mesh_export.quat_xyzw(local @ bend)
    posed = skinned(doc, accessor, {skin["joints"][elbow]: q})
    moved = {k: np.linalg.norm(posed[k] - rest[k], axis=1) for k in rest}
    hand = moved["Left_Hand"]
    assert np.median(hand) > 0.15  # a forearm of ~25 cm swings the hand round
    assert np.median(moved["Left_Lower_Arm"]) > 0.05
    # the hand turns rigidly about the elbow: its distance to the elbow is kept
    reach = [np.linalg.norm(p["Left_Hand"] - at[elbow], axis=1) for p in (posed, rest)]
    np.testing.assert_allclose(*reach, atol=1e-4)
    for part in set(FEET) & set(moved):
        assert moved[part].max() < 1e-6, part
    for part in ("Right_Hand", "Right_Lower_Arm", "Hair"):
        if part in moved:
            assert moved[part].max() < 1e-6, part


# ----------------------------------------------------------------------------- OBJ, PLY


def test_obj_has_one_object_per_part_and_welds_closed(character, tmp_path) -> None:
    mesh, _ = character
    path = tmp_path / "character.obj"
    path.write_bytes(mesh_export.obj_bytes(mesh))
    text = path.read_text()
    objects = [line[2:] for line in text.splitlines() if line.startswith("o ")]
    assert objects == [n for n, _ in mesh.groups()]
    scene = trimesh.load(path, split_objects=True, group_material=False)
    assert set(scene.geometry) == set(objects)
    whole = trimesh.util.concatenate(list(scene.geometry.values()))
    assert whole.visual.kind == "vertex"  # v x y z r g b
    whole.merge_vertices(merge_tex=True, merge_norm=True)
    assert len(whole.vertices) == len(mesh.vertices)
    assert whole.is_watertight and whole.volume > 0.03
    # the colours are sRGB (what OBJ readers show): the first vertex of the first part
    first = np.array(text.split("\nv ", 1)[1].split("\n", 1)[0].split(), float)
    vertex = np.unique(mesh.faces[mesh.groups()[0][1]])[0]
    np.testing.assert_allclose(first[:3], mesh.vertices[vertex], atol=1e-5)
    np.testing.assert_allclose(first[3:], mesh.srgb8()[vertex] / 255, atol=1e-5)


def test_ply_has_colours_a_part_property_and_the_class_table(character) -> None:
    mesh, _ = character
    data = mesh_export.ply_bytes(mesh)
    header = data[: data.index(b"end_header")].decode("ascii")
    assert "comment part 3 Hair 255 0 109" in header and "property uchar part" in header
    back = trimesh.load(io.BytesIO(data), file_type="ply", process=False)
    assert len(back.vertices) == len(mesh.vertices) and back.is_watertight and back.volume > 0.03
    np.testing.assert_array_equal(back.visual.vertex_colors[:, :3], mesh.srgb8())
    part = back.metadata["_ply_raw"]["vertex"]["data"]["part"]
    np.testing.assert_array_equal(part, mesh.part)


# ----------------------------------------------------------------------------- the command


def test_command_writes_each_format_and_says_what(person, tmp_path, capsys) -> None:
    src = tmp_path / "person.ply"
    splatfile.save(src, person)
    assert cli.main(["mesh", str(src), "-o", str(tmp_path / "c.glb"), "--voxel", "0.03"]) == 0
    out = capsys.readouterr().out
    assert "vertices" in out and "parts" in out and "skinned to 24 joints" in out
    assert ", closed, in" in out and "NOT closed" not in out and "note" not in out
    assert cli.main(["mesh", str(src), "-o", str(tmp_path / "c.ply"), "--voxel", "0.03"]) == 0
    assert "PLY holds no skeleton" in capsys.readouterr().out
    # other suffixes, missing folders: one sentence, exit 2, nothing written
    assert cli.main(["mesh", str(src), "-o", str(tmp_path / "c.fbx")]) == 2
    assert "does not end in .glb, .obj or .ply" in capsys.readouterr().err
    assert cli.main(["mesh", str(src), "-o", str(tmp_path / "no" / "c.glb")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "c.fbx").exists()


def test_unrigged_and_unlabelled_files_give_plain_meshes(tmp_path, capsys) -> None:
    s = body(20_000, seed=5)  # labelled, not rigged (a format-1 file)
    src = tmp_path / "statue.ply"
    splatfile.save(src, s)
    out = tmp_path / "statue.glb"
    assert cli.main(["mesh", str(src), "-o", str(out), "--voxel", "0.03"]) == 0
    text = capsys.readouterr().out
    assert "not skinned" in text and "note: the splat file has no skeleton" in text
    doc, _ = read_glb(out)
    assert "skins" not in doc and len(doc["meshes"]) > 10
    assert {"Left_Hand", "Hair"} <= {m["name"] for m in doc["meshes"]}
    assert "JOINTS_0" not in doc["meshes"][0]["primitives"][0]["attributes"]
    run = validator()
    if not isinstance(run, str):
        report = run(out)
        assert report["issues"]["numErrors"] == report["issues"]["numWarnings"] == 0
    bare = dataclasses.replace(s, part=None, part_conf=None)
    mesh = mesh_export.build(bare, voxel=0.03)
    assert [n for n, _ in mesh.groups()] == ["Body"] and mesh.part is None
    whole = trimesh.load(io.BytesIO(mesh_export.ply_bytes(mesh)), file_type="ply")
    assert whole.is_watertight
    assert "part" not in whole.metadata["_ply_raw"]["vertex"]["data"].dtype.names


def test_too_fine_a_voxel_is_refused_before_any_work(person) -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError, match="use a larger voxel"):
        mesh_export.build(person, voxel=0.002)
    assert time.perf_counter() - start < 1.0
    with pytest.raises(ValueError, match="the voxel must be"):
        mesh_export.build(person, voxel=0.5)
