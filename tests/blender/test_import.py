"""Importer: samples, labelled files, unlabelled files, 1M splats, frame conversion."""

from __future__ import annotations

import numpy as np
import pytest
from synth_body import body

from humancrafter.portable import splatfile
from humancrafter.portable.parts import PART_IDS, PART_NAMES


def _import(bpy, path, height=1.75):
    result = bpy.ops.humancrafter.import_splats(filepath=str(path), target_height=height)
    assert result == {"FINISHED"}
    return bpy.context.view_layer.objects.active


def _read(addon, obj, name):
    from importlib import import_module

    return import_module(addon.__name__ + ".meshdata").read(obj.data, name)


def _group_members(obj) -> dict[str, np.ndarray]:
    """Vertex indices of each vertex group (read through the 'group' mesh API)."""
    n = len(obj.data.vertices)
    members: dict[int, list[int]] = {vg.index: [] for vg in obj.vertex_groups}
    for v in obj.data.vertices:  # test-side check only; the add-on never loops like this
        for g in v.groups:
            members[g.group].append(v.index)
    assert all(len(m) <= n for m in members.values())
    return {vg.name: np.array(members[vg.index], int) for vg in obj.vertex_groups}


def test_each_shared_sample_imports(scene, addon, samples):
    import bpy

    for path in samples:
        ref = splatfile.load(path)
        obj = _import(bpy, path, 1.8)
        assert len(obj.data.vertices) == len(ref)
        assert len(obj.vertex_groups) == 0  # the published files carry no labels
        pos = _read(addon, obj, "position")
        z = pos[:, 2]
        lo, hi = np.percentile(z, [0.1, 99.9])
        assert abs((hi - lo) - 1.8) < 1e-3 and abs(lo) < 1e-4
        for name in ("opacity", "opacity_logit", "scale", "log_scale", "rotation", "rot_wxyz",
                     "sh_dc", "model_position", "Col"):  # fmt: skip
            assert name in obj.data.attributes, name
        np.testing.assert_array_equal(_read(addon, obj, "model_position"), ref.means)
        np.testing.assert_array_equal(_read(addon, obj, "opacity_logit"), ref.opacities)
        np.testing.assert_allclose(_read(addon, obj, "opacity"), ref.opacity(), rtol=1e-6)
        assert obj.data.color_attributes.active_color_name == "Col"


def test_unlabelled_file_says_so(scene, addon, tmp_path):
    import bpy

    s = body(2000)
    s.part = s.part_conf = None
    path = tmp_path / "plain.ply"
    splatfile.save(path, s)
    importer = __import__(addon.__name__ + ".importer", fromlist=["x"])
    obj, report = importer.create_object(splatfile.load(path), "plain", 1.7)
    assert "no part labels" in report.message(obj.name)
    assert len(obj.vertex_groups) == 0 and "part" not in obj.data.attributes
    assert _import(bpy, path).name.startswith("plain")


def test_vertex_groups_hold_exactly_their_label(scene, addon, tmp_path):
    import bpy

    s = body(20_000, seed=3, sh_bands=15)
    path = tmp_path / "body.ply"
    splatfile.save(path, s)
    obj = _import(bpy, path)
    present = sorted({PART_NAMES[k] for k in np.unique(s.part)})
    assert sorted(vg.name for vg in obj.vertex_groups) == present
    members = _group_members(obj)
    for name in present:
        np.testing.assert_array_equal(members[name], np.flatnonzero(s.part == PART_IDS[name]))
    np.testing.assert_array_equal(_read(addon, obj, "part"), s.part)
    np.testing.assert_array_equal(_read(addon, obj, "part_conf"), s.part_conf)
    for k in range(15):
        np.testing.assert_array_equal(_read(addon, obj, f"sh_rest_{k:02d}"), s.sh_rest[:, k])
    assert [p.name for p in obj.hc_parts] == present
    assert sum(p.count for p in obj.hc_parts) == len(s)


def test_frame_conversion(scene, addon, tmp_path):
    """Feet on the ground, the person's left on +X, facing -Y, scaled to the height."""
    import bpy

    s = body(20_000, seed=1)
    path = tmp_path / "body.ply"
    splatfile.save(path, s)
    obj = _import(bpy, path, 2.0)
    pos = _read(addon, obj, "position")
    lab = s.part

    def centre(name):
        return pos[lab == PART_IDS[name]].mean(0)

    assert centre("Left_Hand")[0] > 0.4 and centre("Right_Hand")[0] < -0.4
    assert centre("Face_Neck")[2] > 1.5 and centre("Left_Foot")[2] < 0.15
    assert centre("Left_Foot")[1] < centre("Left_Lower_Leg")[1] - 0.05  # toes toward -Y
    z = pos[:, 2]
    lo, hi = np.percentile(z, [0.1, 99.9])
    assert abs(hi - lo - 2.0) < 1e-3 and abs(lo) < 1e-4
    rot = _read(addon, obj, "rotation")
    np.testing.assert_allclose(np.linalg.norm(rot, axis=1), 1.0, atol=1e-5)
    scale = _read(addon, obj, "scale")
    np.testing.assert_allclose(scale, np.exp(s.log_scales) * obj["hc_scale"], rtol=1e-5)


def test_bad_file_reports_clearly(scene, addon, tmp_path):
    import bpy

    path = tmp_path / "broken.ply"
    path.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 1\nend_header\n")
    with pytest.raises(RuntimeError, match="ASCII PLY is not supported"):
        bpy.ops.humancrafter.import_splats(filepath=str(path))
    assert len(bpy.data.objects) == 0


@pytest.mark.slow
def test_one_million_splats(scene, addon, tmp_path):
    import bpy

    s = body(1_000_000, seed=7)
    path = tmp_path / "big.ply"
    splatfile.save(path, s)
    obj = _import(bpy, path)  # its speed is measured by benchmarks/bench_blender_import.py
    assert len(obj.data.vertices) == 1_000_000
    assert len(obj.vertex_groups) == len(np.unique(s.part))
    assert obj.modifiers["HumanCrafter Display"].node_group is not None
