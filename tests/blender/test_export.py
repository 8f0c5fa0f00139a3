"""Exporters: bit-exact PLY round trip, edits written as edited, per-part PLYs, glTF."""

from __future__ import annotations

import numpy as np
import pytest
from synth_body import body

from humancrafter.portable import splatfile
from humancrafter.portable.parts import PART_IDS, PART_NAMES


def _mod(addon, name):
    return __import__(f"{addon.__name__}.{name}", fromlist=["x"])


@pytest.fixture
def labelled(tmp_path):
    s = body(15_000, seed=5, sh_bands=15)
    path = tmp_path / "body.ply"
    splatfile.save(path, s)
    return path, s


def _import(bpy, path, height=1.75):
    assert bpy.ops.humancrafter.import_splats(filepath=str(path), target_height=height) == {
        "FINISHED"
    }
    return bpy.context.view_layer.objects.active


def test_ply_round_trip_is_bit_exact(scene, addon, labelled, tmp_path):
    import bpy

    path, _ = labelled
    for height in (1.75, 0.37, 12.5):
        _import(bpy, path, height)
        out = tmp_path / f"out_{height}.ply"
        assert bpy.ops.humancrafter.export_ply(filepath=str(out)) == {"FINISHED"}
        assert out.read_bytes() == path.read_bytes()


def test_samples_round_trip_values_exactly(scene, addon, samples, tmp_path):
    import bpy

    for path in samples:
        ref = splatfile.load(path)
        _import(bpy, path, 1.8)
        out = tmp_path / path.name
        bpy.ops.humancrafter.export_ply(filepath=str(out))
        got = splatfile.load(out)
        for field in ("means", "sh0", "opacities", "log_scales", "quats", "sh_rest", "normals"):
            a, b = getattr(ref, field), getattr(got, field)
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), (path.name, field)


def test_edits_are_written_as_edited(scene, addon, labelled, tmp_path):
    import bmesh
    import bpy

    path, s = labelled
    obj = _import(bpy, path, 1.75)
    meshdata = _mod(addon, "meshdata")
    pos = meshdata.positions(obj.data)
    moved = pos.copy()
    moved[0] += np.float32([0.0, 0.0, 0.5])  # lift splat 0 by 50 cm
    meshdata.write(obj.data, "position", "FLOAT_VECTOR", moved)
    bm = bmesh.new()
    bm.from_mesh(obj.data)
    bm.verts.ensure_lookup_table()
    bmesh.ops.delete(bm, geom=[bm.verts[i] for i in range(10, 20)], context="VERTS")
    bm.to_mesh(obj.data)
    bm.free()
    out = tmp_path / "edited.ply"
    bpy.ops.humancrafter.export_ply(filepath=str(out))
    got = splatfile.load(out)
    keep = np.r_[0:10, 20 : len(s)]
    assert len(got) == len(s) - 10
    np.testing.assert_array_equal(got.means[1:], s.means[keep][1:])  # untouched: exact
    np.testing.assert_array_equal(got.part, s.part[keep])
    lift = 0.5 / obj["hc_scale"]  # Blender +Z is model +y
    np.testing.assert_allclose(got.means[0], s.means[0] + [0, lift, 0], atol=1e-6)


def test_one_ply_per_part(scene, addon, labelled, tmp_path):
    import bpy

    path, s = labelled
    _import(bpy, path)
    folder = tmp_path / "parts"
    folder.mkdir()
    assert bpy.ops.humancrafter.export_parts(filepath=str(folder) + "/") == {"FINISHED"}
    files = sorted(folder.glob("*.ply"))
    assert len(files) == len(np.unique(s.part))
    for f in files:
        part = f.stem.split("_", 1)[1]
        got = splatfile.load(f)
        mask = s.part == PART_IDS[part]
        assert len(got) == mask.sum() and set(got.part.tolist()) == {PART_IDS[part]}
        np.testing.assert_array_equal(got.means, s.means[mask])


@pytest.mark.parametrize("suffix", [".glb", ".gltf"])
def test_gltf_export(scene, addon, labelled, tmp_path, suffix):
    import bpy

    path, s = labelled
    obj = _import(bpy, path, 1.75)
    out = tmp_path / f"body{suffix}"
    assert bpy.ops.humancrafter.export_gltf(filepath=str(out)) == {"FINISHED"}
    gltf = _mod(addon, "gltf_splat")
    doc, attrs = gltf.read_attributes(out)
    prim = doc["meshes"][0]["primitives"][0]
    assert prim["mode"] == 0 and "KHR_gaussian_splatting" in prim["extensions"]
    assert doc["extensionsUsed"] == ["KHR_gaussian_splatting"]
    ext = "KHR_gaussian_splatting:"
    expected = {"POSITION", "COLOR_0", "_PART", ext + "ROTATION", ext + "SCALE",
                ext + "OPACITY"}  # fmt: skip
    expected |= {f"{ext}SH_DEGREE_{d}_COEF_{c}" for d in range(4) for c in range(2 * d + 1)}
    assert set(attrs) == expected
    n = len(s)
    assert all(len(a) == n for a in attrs.values())
    scale = obj["hc_scale"]
    q = s.unit_quats()
    np.testing.assert_allclose(attrs[ext + "ROTATION"], q[:, [1, 2, 3, 0]], atol=1e-7)
    # Release Candidate: "Scale values are linear and MUST NOT be negative"
    np.testing.assert_allclose(attrs[ext + "SCALE"], np.exp(s.log_scales) * scale, rtol=1e-5)
    assert attrs[ext + "SCALE"].min() >= 0
    np.testing.assert_allclose(attrs[ext + "OPACITY"], s.opacity(), atol=1e-7)
    assert attrs[ext + "OPACITY"].min() >= 0 and attrs[ext + "OPACITY"].max() <= 1
    np.testing.assert_array_equal(attrs[ext + "SH_DEGREE_0_COEF_0"], s.sh0)
    np.testing.assert_array_equal(attrs[ext + "SH_DEGREE_3_COEF_6"], s.sh_rest[:, 14])
    np.testing.assert_array_equal(attrs[ext + "SH_DEGREE_1_COEF_0"], s.sh_rest[:, 0])
    np.testing.assert_allclose(attrs["COLOR_0"][:, :3], s.rgb(), atol=1e-7)
    np.testing.assert_array_equal(attrs["_PART"], s.part)
    pos = attrs["POSITION"]  # glTF: y up, metres, feet at 0, same axes as the model frame
    model = s.means * scale
    np.testing.assert_allclose(pos - pos.mean(0), model - model.mean(0), atol=1e-5)
    assert abs(np.percentile(pos[:, 1], 0.1)) < 1e-4
    acc = doc["accessors"][prim["attributes"]["POSITION"]]
    np.testing.assert_allclose(acc["min"], pos.min(0)) and np.testing.assert_allclose(
        acc["max"], pos.max(0)
    )
    assert [PART_NAMES[k] for k in range(3)] == prim["extras"]["part_classes"][:3]


def test_axes_round_trip_exact(addon):
    axes = _mod(addon, "axes")
    rng = np.random.default_rng(0)
    m = rng.normal(0, 0.3, (100_000, 3)).astype(np.float32)
    p = axes.Placement.fit(m, 1.83)
    b = p.points_to_blender(m)
    np.testing.assert_array_equal(axes.blender_to_model_axes(axes.model_to_blender_axes(m)), m)
    back = p.points_to_model(b)
    np.testing.assert_allclose(back, m, atol=1e-6)
    # a point of the model's +z (facing) axis lands on Blender -Y; +y (up) on +Z
    q = axes.Placement(1.0, (0.0, 0.0, 0.0))
    np.testing.assert_array_equal(q.points_to_blender(np.float32([[0, 0, 1], [0, 1, 0]])),
                                  np.float32([[0, -1, 0], [0, 0, 1]]))  # fmt: skip
    # identity rotation in the model frame = +90 deg about X in Blender
    np.testing.assert_allclose(q.quats_to_blender(np.float32([[2, 0, 0, 0]]))[0],
                               [np.sqrt(0.5), np.sqrt(0.5), 0, 0], atol=1e-7)  # fmt: skip


def _check_alignment(doc):
    """glTF 2.0 core: every vertex-attribute element 4-byte aligned in its buffer view."""
    sizes = {5126: 4, 5121: 1}
    widths = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}
    prim = doc["meshes"][0]["primitives"][0]
    for key, idx in prim["attributes"].items():
        acc = doc["accessors"][idx]
        view = doc["bufferViews"][acc["bufferView"]]
        element = sizes[acc["componentType"]] * widths[acc["type"]]
        stride = view.get("byteStride", element)
        assert (view["byteOffset"] + acc.get("byteOffset", 0)) % 4 == 0, key
        assert stride % 4 == 0 and stride >= element, (key, stride)
        assert view["byteLength"] >= (acc["count"] - 1) * stride + element, key
        assert view.get("target") == 34962, key


def test_gltf_is_aligned_and_round_trips(scene, addon, labelled, tmp_path):
    import bpy

    path, s = labelled
    obj = _import(bpy, path, 1.75)
    gltf = _mod(addon, "gltf_splat")
    for suffix in (".glb", ".gltf"):
        out = tmp_path / f"rt{suffix}"
        assert bpy.ops.humancrafter.export_gltf(filepath=str(out)) == {"FINISHED"}
        doc, attrs = gltf.read_attributes(out)
        _check_alignment(doc)
        customs = [k for k in doc["meshes"][0]["primitives"][0]["attributes"] if k[0] == "_"]
        assert customs == ["_PART"]
        back = gltf.read_splats(out)
        scale = obj["hc_scale"]
        np.testing.assert_allclose(back.log_scales, s.log_scales + np.log(scale), atol=1e-5)
        np.testing.assert_allclose(back.opacity(), s.opacity(), atol=1e-6)
        np.testing.assert_allclose(back.unit_quats(), s.unit_quats(), atol=1e-6)
        np.testing.assert_array_equal(back.sh0, s.sh0)
        np.testing.assert_array_equal(back.sh_rest, s.sh_rest)
        np.testing.assert_array_equal(back.part, s.part)
    # unlabelled splats: no custom attribute at all
    plain = body(2_000, seed=1)
    plain.part = plain.part_conf = None
    doc, _ = gltf.to_gltf(plain)
    assert not [k for k in doc["meshes"][0]["primitives"][0]["attributes"] if k[0] == "_"]


def test_blender_gltf_importer_loads_our_glb_five_times(scene, addon, labelled, tmp_path):
    """Blender's own importer (io_scene_gltf2) reads the GLB, five times in a row."""
    import addon_utils
    import bpy

    path, s = labelled
    _import(bpy, path, 1.75)
    out = tmp_path / "for_blender.glb"
    assert bpy.ops.humancrafter.export_gltf(filepath=str(out)) == {"FINISHED"}
    addon_utils.enable("io_scene_gltf2", default_set=True)
    for _ in range(5):
        before = set(bpy.data.objects)
        assert bpy.ops.import_scene.gltf(filepath=str(out)) == {"FINISHED"}
        # a mesh of loose points in bpy 5.0; bpy 5.3 reads KHR_gaussian_splatting itself
        new = [o for o in bpy.data.objects if o not in before and o.type in ("MESH", "POINTCLOUD")]
        assert len(new) == 1 and len(new[0].data.attributes["position"].data) == len(s)
        got = np.zeros(len(s), np.int32)
        new[0].data.attributes["_PART"].data.foreach_get("value", got)
        np.testing.assert_array_equal(got, s.part)


def test_export_problems_are_one_sentence_and_leave_nothing(scene, addon, labelled, tmp_path):
    import os

    import bpy

    path, _ = labelled
    _import(bpy, path)
    folder = tmp_path / "a_folder"
    folder.mkdir()
    for op in ("export_ply", "export_gltf"):
        with pytest.raises(RuntimeError, match="is a folder; give a file name"):
            getattr(bpy.ops.humancrafter, op)(filepath=str(folder))
        with pytest.raises(RuntimeError, match="folder .* does not exist"):
            getattr(bpy.ops.humancrafter, op)(filepath=str(tmp_path / "nope" / "x.ply"))
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob("*.part"))
    ops = _mod(addon, "operators")
    assert ops._write_error(PermissionError(13, "Permission denied", "/x/y.ply")) == (
        "Cannot write /x/y.ply: permission denied; choose a folder you can write to."
    )
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # running as root: permissions do not apply
            pytest.skip("permissions are not enforced for this user")
        for op, name in (("export_ply", "x.ply"), ("export_gltf", "x.glb")):
            with pytest.raises(RuntimeError, match="permission denied") as err:
                getattr(bpy.ops.humancrafter, op)(filepath=str(locked / name))
            assert "Traceback" not in str(err.value)
        with pytest.raises(RuntimeError, match="permission denied"):
            bpy.ops.humancrafter.export_parts(filepath=str(locked / "parts") + "/")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)
