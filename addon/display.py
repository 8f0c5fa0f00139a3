"""How splat objects look: a Geometry Nodes modifier instancing ellipsoids + a material.

Per splat object:

- node group ``HC Display <object>``: keeps points whose ``opacity`` is above the
  cut-off and that are not in a hidden part (``hc_hidden``), thins them at random to the
  viewport point budget (renders always use every point), and instances an ico-sphere
  at each one, rotated by ``rotation`` and scaled by ``scale`` x "Size (sigma)". Points
  whose ``hc_material`` is k > 0 get the k-th part material (see :mod:`.part_tools`).
  Instances carry the point attributes, so shaders read them as *instancer* attributes.
- material ``HC Splats <object>``: emission of the ``Col`` attribute, or of the Sapiens
  palette colour of ``part`` when the "part colours" switch is on. Works in EEVEE and
  Cycles (no engine-specific nodes).
"""

from __future__ import annotations

import bpy

from .colour import srgb_to_linear
from .portable.parts import NUM_PARTS, PALETTE

MODIFIER = "HumanCrafter Display"
PART_SWITCH = "Part Colours"  # name of the material's Value node

INPUTS = (
    # name, socket type, default, min, max
    ("Opacity Cut-off", "NodeSocketFloat", 0.05, 0.0, 1.0),
    ("Viewport Budget", "NodeSocketInt", 300_000, 1, 50_000_000),
    ("Size (sigma)", "NodeSocketFloat", 1.5, 0.01, 10.0),
    ("Detail", "NodeSocketInt", 1, 1, 4),
)


def splat_material(obj: bpy.types.Object) -> bpy.types.Material:
    """The object's own splat material, created on first use (found again by the name
    stored on the object, so renaming the object keeps it)."""
    mat = bpy.data.materials.get(obj.get("hc_display_material", ""))
    if mat is not None:
        return mat
    mat = bpy.data.materials.new(f"HC Splats {obj.name}")
    obj["hc_display_material"] = mat.name
    if bpy.app.version < (5, 0, 0):  # always node-based from 5.0 on
        mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.clear()
    col = nt.nodes.new("ShaderNodeAttribute")
    col.attribute_type = "INSTANCER"
    col.attribute_name = "Col"
    part = nt.nodes.new("ShaderNodeAttribute")
    part.attribute_type = "INSTANCER"
    part.attribute_name = "part"
    to_fac = nt.nodes.new("ShaderNodeMath")  # (part + 0.5) / 28
    to_fac.operation = "MULTIPLY_ADD"
    to_fac.inputs[1].default_value = 1.0 / NUM_PARTS
    to_fac.inputs[2].default_value = 0.5 / NUM_PARTS
    ramp = nt.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.interpolation = "CONSTANT"
    elements = ramp.color_ramp.elements
    while len(elements) < NUM_PARTS:
        elements.new(0.5)
    linear = srgb_to_linear(PALETTE / 255.0)
    for k in range(NUM_PARTS):
        elements[k].position = k / NUM_PARTS
    for k in range(NUM_PARTS):  # positions sort the elements; colour them afterwards
        elements[k].color = (*linear[k], 1.0)
    switch = nt.nodes.new("ShaderNodeValue")
    switch.name = switch.label = PART_SWITCH
    switch.outputs[0].default_value = 0.0
    mix = nt.nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    emit = nt.nodes.new("ShaderNodeEmission")
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    links = nt.links
    links.new(part.outputs["Fac"], to_fac.inputs[0])
    links.new(to_fac.outputs[0], ramp.inputs["Fac"])
    links.new(switch.outputs[0], mix.inputs["Factor"])
    links.new(col.outputs["Color"], mix.inputs["A"])
    links.new(ramp.outputs["Color"], mix.inputs["B"])
    links.new(mix.outputs["Result"], emit.inputs["Color"])
    links.new(emit.outputs[0], out.inputs["Surface"])
    for i, node in enumerate((col, part, to_fac, ramp, switch, mix, emit, out)):
        node.location = (i * 220 - 800, 0)
    return mat


def set_part_colours(obj: bpy.types.Object, on: bool) -> None:
    """Show the Sapiens palette (``on``) or the splat colours."""
    mat = splat_material(obj)
    mat.node_tree.nodes[PART_SWITCH].outputs[0].default_value = 1.0 if on else 0.0


def _group(obj: bpy.types.Object) -> bpy.types.GeometryNodeTree:
    group = bpy.data.node_groups.get(obj.get("hc_display_group", ""))
    if group is None:
        group = bpy.data.node_groups.new(f"HC Display {obj.name}", "GeometryNodeTree")
        obj["hc_display_group"] = group.name
        iface = group.interface
        iface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
        for sname, stype, default, lo, hi in INPUTS:
            sock = iface.new_socket(sname, in_out="INPUT", socket_type=stype)
            sock.default_value, sock.min_value, sock.max_value = default, lo, hi
        iface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    return group


def ensure_display(obj: bpy.types.Object, part_materials: list | None = None) -> None:
    """Give ``obj`` the display modifier (last in the stack) and material, (re)building
    the node tree for ``part_materials`` (material k+1 for ``hc_material`` == k+1)."""
    group = _group(obj)
    build_nodes(group, splat_material(obj), part_materials or [])
    mod = obj.modifiers.get(MODIFIER)
    if mod is None:
        mod = obj.modifiers.new(MODIFIER, "NODES")
    mod.node_group = group
    if not obj.data.materials:
        obj.data.materials.append(splat_material(obj))


def build_nodes(group: bpy.types.GeometryNodeTree, base: bpy.types.Material, extra: list) -> None:
    """Fill ``group`` (interface already made) with the display network."""
    nt = group
    nt.nodes.clear()
    new = nt.nodes.new
    gin, gout = new("NodeGroupInput"), new("NodeGroupOutput")
    gin.location, gout.location = (-1400, 0), (800, 0)

    def attr(name: str, data_type: str, y: float) -> bpy.types.Node:
        node = new("GeometryNodeInputNamedAttribute")
        node.data_type = data_type
        node.inputs["Name"].default_value = name
        node.location = (-1150, y)
        return node

    opacity = attr("opacity", "FLOAT", 300)
    hidden = attr("hc_hidden", "BOOLEAN", 150)
    rotation = attr("rotation", "QUATERNION", -300)
    scale = attr("scale", "FLOAT_VECTOR", -450)
    slot = attr("hc_material", "INT", -600)

    above = new("FunctionNodeCompare")
    above.data_type, above.operation = "FLOAT", "GREATER_THAN"
    nt.links.new(opacity.outputs["Attribute"], above.inputs[0])
    nt.links.new(gin.outputs["Opacity Cut-off"], above.inputs[1])

    count = new("GeometryNodeAttributeDomainSize")
    count.component = "MESH"
    nt.links.new(gin.outputs["Geometry"], count.inputs[0])
    ratio = new("ShaderNodeMath")
    ratio.operation = "DIVIDE"
    nt.links.new(gin.outputs["Viewport Budget"], ratio.inputs[0])
    nt.links.new(count.outputs["Point Count"], ratio.inputs[1])
    keep = new("FunctionNodeRandomValue")
    keep.data_type = "BOOLEAN"
    nt.links.new(ratio.outputs[0], keep.inputs["Probability"])
    viewport = new("GeometryNodeIsViewport")
    thin = new("FunctionNodeBooleanMath")  # viewport -> keep  ==  not viewport or keep
    thin.operation = "IMPLY"
    nt.links.new(viewport.outputs[0], thin.inputs[0])
    nt.links.new(keep.outputs[3], thin.inputs[1])

    visible = new("FunctionNodeBooleanMath")
    visible.operation = "NIMPLY"  # above and not hidden
    nt.links.new(above.outputs[0], visible.inputs[0])
    nt.links.new(hidden.outputs["Attribute"], visible.inputs[1])
    selected = new("FunctionNodeBooleanMath")
    selected.operation = "AND"
    nt.links.new(visible.outputs[0], selected.inputs[0])
    nt.links.new(thin.outputs[0], selected.inputs[1])

    sphere = new("GeometryNodeMeshIcoSphere")
    sphere.inputs["Radius"].default_value = 1.0
    nt.links.new(gin.outputs["Detail"], sphere.inputs["Subdivisions"])
    size = new("ShaderNodeVectorMath")
    size.operation = "SCALE"
    nt.links.new(scale.outputs["Attribute"], size.inputs[0])
    nt.links.new(gin.outputs["Size (sigma)"], size.inputs["Scale"])

    join = new("GeometryNodeJoinGeometry")
    join.location = (600, 0)
    for k, mat in enumerate([base, *extra]):
        is_k = new("FunctionNodeCompare")
        is_k.data_type, is_k.operation = "INT", "EQUAL"
        nt.links.new(slot.outputs["Attribute"], is_k.inputs[2])
        is_k.inputs[3].default_value = k
        sel = new("FunctionNodeBooleanMath")
        sel.operation = "AND"
        nt.links.new(selected.outputs[0], sel.inputs[0])
        nt.links.new(is_k.outputs[0], sel.inputs[1])
        setmat = new("GeometryNodeSetMaterial")
        setmat.inputs["Material"].default_value = mat
        nt.links.new(sphere.outputs["Mesh"], setmat.inputs["Geometry"])
        inst = new("GeometryNodeInstanceOnPoints")
        inst.location = (300, -300 * k)
        nt.links.new(gin.outputs["Geometry"], inst.inputs["Points"])
        nt.links.new(sel.outputs[0], inst.inputs["Selection"])
        nt.links.new(setmat.outputs[0], inst.inputs["Instance"])
        nt.links.new(rotation.outputs["Attribute"], inst.inputs["Rotation"])
        nt.links.new(size.outputs[0], inst.inputs["Scale"])
        nt.links.new(inst.outputs[0], join.inputs[0])
    nt.links.new(join.outputs[0], gout.inputs["Geometry"])
