"""Display nodes, part tools (select/hide/isolate/separate/material/recolour) and rigging."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synth_body import body

from humancrafter.portable import splatfile
from humancrafter.portable.parts import PART_IDS


def _mod(addon, name):
    return __import__(f"{addon.__name__}.{name}", fromlist=["x"])


@pytest.fixture
def person(scene, addon, tmp_path):
    import bpy

    s = body(12_000, seed=11)
    path = tmp_path / "body.ply"
    splatfile.save(path, s)
    assert bpy.ops.humancrafter.import_splats(filepath=str(path), target_height=1.8) == {"FINISHED"}
    return bpy.context.view_layer.objects.active, s, path


def _instances(obj) -> int:
    """Number of splats the display draws for ``obj`` in the viewport: there the
    instances are realised (for the Solid view's colours), one 20-face icosahedron each
    at the default Detail (part materials too)."""
    import bpy

    dg = bpy.context.evaluated_depsgraph_get()
    dg.update()
    mesh = obj.evaluated_get(dg).data
    assert mesh.color_attributes.active_color_name == "Col"  # Solid view: Attribute colour
    return len(mesh.polygons) // 20


def _cutoff(addon) -> float:
    return next(d for n, _, d, *_ in _mod(addon, "display").INPUTS if n == "Opacity Cut-off")


def test_display_instances_follow_cutoff_budget_and_hiding(person, addon):
    obj, s, _ = person
    mod = obj.modifiers["HumanCrafter Display"]
    set_input = _mod(addon, "display").set_input
    visible = int((s.opacity() > _cutoff(addon)).sum())
    assert _instances(obj) == visible  # below the viewport budget: every visible point
    set_input(mod, "Opacity Cut-off", 0.7)
    obj.update_tag()
    assert _instances(obj) == int((s.opacity() > 0.7).sum())
    set_input(mod, "Opacity Cut-off", 0.0)
    set_input(mod, "Viewport Budget", 3000)
    obj.update_tag()
    n = _instances(obj)
    assert 2500 < n < 3500  # random thinning to the budget in the viewport
    set_input(mod, "Viewport Budget", 10_000_000)
    part_tools = _mod(addon, "part_tools")
    part_tools.isolate(obj, PART_IDS["Hair"])
    assert _instances(obj) == int((s.part == PART_IDS["Hair"]).sum())
    part_tools.show_all(obj)
    obj.hc_parts[[p.name for p in obj.hc_parts].index("Torso")].visible = False  # UI toggle
    assert _instances(obj) == int((s.part != PART_IDS["Torso"]).sum())
    assert not obj.hc_parts[[p.name for p in obj.hc_parts].index("Torso")].visible


def test_part_colours_toggle_and_materials(person, addon):
    obj, _, _ = person
    mat = obj.data.materials[0]
    switch = mat.node_tree.nodes["Part Colours"].outputs[0]
    assert switch.default_value == 0.0
    obj.hc_show_part_colours = True
    assert switch.default_value == 1.0
    nodes = [n for n in mat.node_tree.nodes if n.type == "ATTRIBUTE"]
    kinds = {}
    for n in nodes:
        kinds.setdefault(n.attribute_name, set()).add(n.attribute_type)
    # splat values: instance attributes (renders) and geometry (the realised viewport)
    for name in ("Col", "part", "opacity", "hcCut"):
        assert kinds[name] == {"INSTANCER", "GEOMETRY"}, name
    assert {"hcP", "hcReal", "hcM0", "hcM1", "hcM2"} <= set(kinds)


def test_select_and_separate(person, addon):
    import bpy

    obj, s, _ = person
    meshdata = _mod(addon, "meshdata")
    assert bpy.ops.humancrafter.part_select(part="Left_Hand") == {"FINISHED"}
    sel = np.empty(len(s), bool)
    obj.data.vertices.foreach_get("select", sel)
    np.testing.assert_array_equal(sel, s.part == PART_IDS["Left_Hand"])
    before = {a.name for a in obj.data.attributes}
    assert bpy.ops.humancrafter.part_separate(part="Hair") == {"FINISHED"}
    hair = bpy.data.objects[f"{obj.name}.Hair"]
    mask = s.part == PART_IDS["Hair"]
    assert len(hair.data.vertices) == mask.sum()
    assert len(obj.data.vertices) == (~mask).sum()
    assert before <= {a.name for a in hair.data.attributes}
    np.testing.assert_array_equal(meshdata.read(hair.data, "model_position"), s.means[mask])
    np.testing.assert_array_equal(meshdata.read(obj.data, "opacity_logit"), s.opacities[~mask])
    assert [vg.name for vg in hair.vertex_groups] == ["Hair"]
    assert "Hair" not in obj.vertex_groups
    assert hair.modifiers["HumanCrafter Display"].node_group is not None
    assert [p.name for p in hair.hc_parts] == ["Hair"]


def test_part_material_survives_reimport(person, addon):
    import bpy

    obj, s, path = person
    red = bpy.data.materials.new("Cloth Red")
    assert bpy.ops.humancrafter.part_material(part="Upper_Clothing", material="Cloth Red") == {
        "FINISHED"
    }
    meshdata = _mod(addon, "meshdata")
    slot = meshdata.read(obj.data, "hc_material")
    np.testing.assert_array_equal(slot > 0, s.part == PART_IDS["Upper_Clothing"])
    bpy.data.objects.remove(obj)
    assert bpy.ops.humancrafter.import_splats(filepath=str(path)) == {"FINISHED"}
    again = bpy.context.view_layer.objects.active
    slot = meshdata.read(again.data, "hc_material")
    np.testing.assert_array_equal(slot > 0, s.part == PART_IDS["Upper_Clothing"])
    group = again.modifiers["HumanCrafter Display"].node_group
    used = {n.inputs["Material"].default_value for n in group.nodes if n.type == "SET_MATERIAL"}
    assert red in used
    assert _instances(again) == int((s.opacity() > _cutoff(addon)).sum())


def test_recolour_part(person, addon):
    import bpy

    obj, s, _ = person
    meshdata = _mod(addon, "meshdata")
    assert bpy.ops.humancrafter.part_recolour(part="Upper_Clothing", colour=(0.8, 0.05, 0.05)) == {
        "FINISHED"
    }
    sh = meshdata.read(obj.data, "sh_dc")
    mask = s.part == PART_IDS["Upper_Clothing"]
    np.testing.assert_array_equal(sh[~mask], s.sh0[~mask])
    rgb = 0.5 + 0.28209479177387814 * sh[mask]
    assert (rgb[:, 0] > rgb[:, 1] + 0.3).mean() > 0.95  # now red
    col = meshdata.read(obj.data, "Col")
    assert (col[mask, 0] > col[mask, 2]).all()


def test_posing_the_arm_moves_its_splats(person, addon):
    import bpy

    obj, s, _ = person
    rigging = _mod(addon, "rigging")
    assert bpy.ops.humancrafter.create_armature(smooth=0.0) == {"FINISHED"}
    arm = bpy.data.objects[f"{obj.name} Rig"]
    names = {b.name for b in arm.data.bones}
    assert {"Torso", "Face_Neck", "Left_Upper_Arm", "Left_Lower_Arm", "Left_Hand",
            "Right_Upper_Leg", "Right_Lower_Leg", "Right_Foot"} <= names  # fmt: skip
    bones = arm.data.bones
    assert bones["Left_Upper_Arm"].head_local.x > 0.1  # the person's left is +X
    assert bones["Left_Lower_Arm"].head_local.z < bones["Left_Upper_Arm"].head_local.z
    assert obj.modifiers[0].type == "ARMATURE" and obj.modifiers[0].object == arm
    rest = rigging.deformed_positions(obj)
    np.testing.assert_allclose(rest, _mod(addon, "meshdata").positions(obj.data), atol=1e-5)
    pb = arm.pose.bones["Left_Upper_Arm"]
    pb.rotation_mode = "XYZ"
    pb.rotation_euler = (math.radians(70), 0.0, 0.0)
    posed = rigging.deformed_positions(obj)
    moved = np.linalg.norm(posed - rest, axis=1)
    for name in ("Left_Upper_Arm", "Left_Lower_Arm", "Left_Hand"):
        assert moved[s.part == PART_IDS[name]].mean() > 0.05, name
    for name in ("Right_Upper_Arm", "Right_Hand", "Torso", "Left_Upper_Leg", "Face_Neck"):
        assert moved[s.part == PART_IDS[name]].max() < 1e-5, name
    # the hand swings further than the upper arm (it is further from the shoulder)
    assert (
        moved[s.part == PART_IDS["Left_Hand"]].mean()
        > moved[s.part == PART_IDS["Left_Upper_Arm"]].mean()
    )


def test_smoothed_weights_blend_at_joints(person, addon):
    obj, s, _ = person
    rigging = _mod(addon, "rigging")
    arm, skipped = rigging.create_armature(obj, smooth=0.05)
    assert skipped == []
    meshdata = _mod(addon, "meshdata")
    lab = meshdata.read(obj.data, "part")
    bones, _ = rigging.plan_bones(meshdata.positions(obj.data), lab)
    w = rigging.bone_weights(meshdata.positions(obj.data), lab, bones, 0.05)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    shared = (w > 0.05).sum(1) > 1
    assert 0.05 < shared.mean() < 0.9  # points near joints are shared, the rest are not


def test_unlabelled_object_cannot_be_rigged(scene, addon, tmp_path):
    import bpy

    s = body(3000)
    s.part = s.part_conf = None
    path = tmp_path / "plain.ply"
    splatfile.save(path, s)
    bpy.ops.humancrafter.import_splats(filepath=str(path))
    obj = bpy.context.view_layer.objects.active
    # tools that need labels are not offered (poll False), and the library call says why
    for op in ("create_armature", "export_parts", "part_select", "part_separate",
               "part_isolate", "part_recolour", "part_material"):  # fmt: skip
        assert not getattr(bpy.ops.humancrafter, op).poll(), op
    with pytest.raises(ValueError, match="no part labels"):
        _mod(addon, "rigging").create_armature(obj)
    # part colours on an unlabelled object keep its own colours (never all Background)
    obj.hc_show_part_colours = True
    mat = obj.data.materials[0]
    assert mat.node_tree.nodes["Part Colours"].outputs[0].default_value == 0.0
    assert bpy.ops.humancrafter.export_ply.poll() and bpy.ops.humancrafter.export_gltf.poll()


def test_rigging_twice_replaces_the_armature(person, addon):
    import bpy

    obj, _, _ = person
    assert bpy.ops.humancrafter.create_armature() == {"FINISHED"}
    first = obj["hc_rig"]
    bpy.context.view_layer.objects.active = obj
    assert bpy.ops.humancrafter.create_armature() == {"FINISHED"}
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(arms) == 1 and arms[0].name == obj["hc_rig"] == first
    assert len(bpy.data.armatures) == 1
    mods = [m for m in obj.modifiers if m.type == "ARMATURE"]
    assert len(mods) == 1 and mods[0].object == arms[0]


def test_separate_selects_the_new_object_and_refreshes_lists(person, addon):
    import bpy

    obj, s, _ = person
    obj.hc_parts_index = len(obj.hc_parts) - 1  # the last row
    last = obj.hc_parts[obj.hc_parts_index].name
    assert bpy.ops.humancrafter.part_separate(part=last) == {"FINISHED"}
    new = bpy.data.objects[f"{obj.name}.{last}"]
    assert bpy.context.view_layer.objects.active == new
    assert new.select_get() and not obj.select_get()
    assert last not in [p.name for p in obj.hc_parts]
    assert 0 <= obj.hc_parts_index < len(obj.hc_parts)
    counts = {p.name: p.count for p in obj.hc_parts}
    assert sum(counts.values()) == len(obj.data.vertices)


def test_rig_under_long_sleeves_and_trousers(scene, addon, tmp_path):
    """Clothing hides the upper limbs' skin labels: joints are still placed, and posing
    the left upper arm moves the left sleeve but not the right one."""
    import bpy

    s = body(15_000, seed=4)
    sleeve = {PART_IDS[f"{side}_Upper_Arm"]: side for side in ("Left", "Right")}
    left_sleeve = s.part == PART_IDS["Left_Upper_Arm"]
    right_sleeve = s.part == PART_IDS["Right_Upper_Arm"]
    for k in sleeve:
        s.part[s.part == k] = PART_IDS["Upper_Clothing"]
    for side in ("Left", "Right"):
        s.part[s.part == PART_IDS[f"{side}_Upper_Leg"]] = PART_IDS["Lower_Clothing"]
    path = tmp_path / "clothed.ply"
    splatfile.save(path, s)
    bpy.ops.humancrafter.import_splats(filepath=str(path), target_height=1.8)
    obj = bpy.context.view_layer.objects.active
    rigging = _mod(addon, "rigging")
    arm, skipped = rigging.create_armature(obj, smooth=0.0)
    assert skipped == []
    bones = arm.data.bones
    assert len(bones) == 14
    shoulder = np.array(bones["Left_Upper_Arm"].head_local)
    elbow = np.array(bones["Left_Upper_Arm"].tail_local)
    assert 0.15 < shoulder[0] < 0.35 and 1.2 < shoulder[2] < 1.5  # beside the neck
    assert elbow[0] > shoulder[0] + 0.1 and elbow[2] < shoulder[2] - 0.1
    knee = np.array(bones["Left_Upper_Leg"].tail_local)
    assert 0.35 < knee[2] < 0.6 and knee[0] > 0.05
    rest = rigging.deformed_positions(obj)
    pb = arm.pose.bones["Left_Upper_Arm"]
    pb.rotation_mode = "XYZ"
    pb.rotation_euler = (math.radians(70), 0.0, 0.0)
    moved = np.linalg.norm(rigging.deformed_positions(obj) - rest, axis=1)
    assert np.median(moved[left_sleeve]) > 0.03
    assert moved[right_sleeve].max() < 1e-5


def test_cycles_renders_colours_and_part_palette(person, addon, tmp_path):
    """A small Cycles render shows the splat colours, then the Sapiens palette."""
    import bpy

    obj, s, _ = person
    scene = bpy.context.scene
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    chest_z = float(
        np.median(
            _mod(addon, "meshdata").positions(obj.data)[s.part == PART_IDS["Upper_Clothing"]][:, 2]
        )
    )
    cam.location, cam.rotation_euler = (0.0, -3.0, chest_z), (math.pi / 2, 0.0, 0.0)
    scene.camera = cam
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples = "CPU", 4
    scene.render.resolution_x, scene.render.resolution_y = 48, 64
    scene.view_settings.view_transform = "Standard"
    scene.world = None
    scene.render.film_transparent = True

    def shoot(name):
        scene.render.filepath = str(tmp_path / name)
        bpy.ops.render.render(write_still=True)
        img = bpy.data.images.load(str(tmp_path / name))
        px = np.array(img.pixels[:], np.float32).reshape(64, 48, 4)[::-1]  # top row first
        bpy.data.images.remove(img)
        return px

    rgb = shoot("rgb.png")
    chest = rgb[30:34, 22:26, :3].mean((0, 1))  # blue shirt (0.2, 0.35, 0.8)
    assert chest[2] > chest[0] + 0.12, chest  # shirt, with some skin splats poking through
    obj.hc_show_part_colours = True
    parts = shoot("parts.png")
    chest = parts[30:34, 22:26, :3].mean((0, 1))  # Upper_Clothing: (0, 128, 72)
    assert chest[1] > 0.35 and chest[0] < 0.1, chest
    assert rgb[2, 2, 3] < 0.05 and parts[2, 2, 3] < 0.05  # background stays empty


def test_renamed_object_keeps_its_display(person, addon):
    import bpy

    obj, s, _ = person
    group = obj.modifiers["HumanCrafter Display"].node_group
    material = obj.data.materials[0]
    obj.name = "Renamed Person"
    obj.hc_show_part_colours = True
    assert material.node_tree.nodes["Part Colours"].outputs[0].default_value == 1.0
    bpy.ops.humancrafter.refresh_display()
    assert obj.modifiers["HumanCrafter Display"].node_group == group
    assert len([g for g in bpy.data.node_groups if g.name.startswith("HC Display")]) == 1
    assert _instances(obj) == int((s.opacity() > _cutoff(addon)).sum())
