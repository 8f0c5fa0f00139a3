"""How splat objects look: a Geometry Nodes modifier instancing a proxy per splat + a
material that draws each splat as its 3D Gaussian.

Per splat object:

- node group ``HC Display <object>``: keeps points whose ``opacity`` is above the
  cut-off and that are not in a hidden part (``hc_hidden``), thins them at random to the
  viewport point budget (renders always use every point), and instances an ico-sphere
  at each one, rotated by ``rotation`` turned by the pose (``hc_pose_rotation``, kept
  up to date by :mod:`.rigging` while the object is rigged) and scaled by ``scale`` (one
  standard deviation), so the instance's own (object) space is the splat's whitened
  space. The ico-sphere's radius is "Size (sigma)" / 0.79 so that it encloses the ball
  of radius "Size (sigma)" (0.79 is the in-radius of an icosahedron of circum-radius 1:
  Detail 1, the default).
  Points whose ``hc_material`` is k > 0 get the k-th part material (see
  :mod:`.part_tools`). Instances carry the point attributes, so shaders read them as
  *instancer* attributes. In the viewport the instances are also realised with ``Col``
  on their faces, so the Solid viewport in *Attribute* colour shows the splat colours.
- node group ``.HC Lean Splats``, one per file, used twice by every display group: drops
  the attributes the display no longer needs past instancing (the leading dot keeps this
  internal group out of Blender's menus).
- material ``HC Splats <object>``: the Gaussian kernel. For the view ray through a
  shading point p with direction v, both in the instance's whitened space, the squared
  Mahalanobis distance of the ray from the splat centre is d² = |p|² − (p·v)²/|v|²
  (its closest approach), and the splat's alpha there is ``opacity`` · exp(−½ d²), cut
  off at d = "Size (sigma)" (3 σ by default, as the glTF extension's ellipse kernel).
  Front faces only (each ray meets the proxy's front once), so a splat counts once per
  ray. Colour: emission of ``Col`` (linear; the file's 0.5 + SH_C0·f_dc is display sRGB
  and is converted once at import), or of the Sapiens palette colour of ``part`` when the
  "part colours" switch is on. Alpha-blending order: Cycles composites along each ray
  front to back (exact order; raise *Light Paths › Transparent* bounces for dense
  splats, see :func:`configure_scene`); EEVEE uses dithered (order-independent)
  transparency that converges over its samples. The "Soft Gaussians" switch off gives
  the old opaque ellipsoids (the fidelity benchmark compares both). No engine-specific
  nodes.
"""

from __future__ import annotations

import bpy

from .colour import srgb_to_linear
from .portable.parts import NUM_PARTS, PALETTE

MODIFIER = "HumanCrafter Display"
PART_SWITCH = "Part Colours"  # name of the material's Value node
SOFT_SWITCH = "Soft Gaussians"  # 1: Gaussian kernel, 0: opaque ellipsoids (old display)
POSE_ATTRIBUTE = "hc_pose_rotation"  # QUATERNION: the pose's turn per splat (rigging.py)
IN_RADIUS = 0.79  # in-radius of a unit icosahedron (0.7947), the coarsest proxy

INPUTS = (
    # name, socket type, default, min, max
    ("Opacity Cut-off", "NodeSocketFloat", 0.004, 0.0, 1.0),
    ("Viewport Budget", "NodeSocketInt", 100_000, 1, 50_000_000),
    ("Size (sigma)", "NodeSocketFloat", 3.0, 0.01, 10.0),
    ("Detail", "NodeSocketInt", 1, 1, 4),  # ico-sphere subdivisions; 1 = icosahedron
    # 3DGS's low-pass filter: eps2d (px²) added to each projected covariance; as an
    # isotropic 3D dilation sigma' = sqrt(sigma² + eps2d (distance / focal)²) (same
    # rotation), with the scene camera's focal length in pixels (kept in sync by the
    # add-on: :func:`sync_camera`); 0 turns it off.
    ("Dilation (px²)", "NodeSocketFloat", 0.3, 0.0, 10.0),
    ("Focal (px)", "NodeSocketFloat", 0.0, 0.0, 1e6),
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
    mat.surface_render_method = "DITHERED"  # EEVEE: order-independent alpha
    mat.use_backface_culling = True
    mat.diffuse_color = (0.8, 0.8, 0.8, 1.0)
    build_material(mat.node_tree)
    return mat


def build_material(nt: bpy.types.ShaderNodeTree) -> None:
    """The Gaussian-kernel splat shader (see the module docstring)."""
    nt.nodes.clear()
    new, links = nt.nodes.new, nt.links

    def lookup(name: str, kind: str = "INSTANCER") -> bpy.types.Node:
        node = new("ShaderNodeAttribute")
        node.attribute_type, node.attribute_name = kind, name
        return node

    def attr(name: str, output: str = "Fac"):
        """Instance attribute (render) + the same geometry attribute (viewport, realised):
        whichever is absent reads 0."""
        a, b = lookup(name), lookup(name, "GEOMETRY")
        node = new("ShaderNodeVectorMath" if output != "Fac" else "ShaderNodeMath")
        node.operation = "ADD"
        links.new(a.outputs[output], node.inputs[0])
        links.new(b.outputs[output], node.inputs[1])
        return node.outputs[0]

    def math(op: str, a, b=None, value=None) -> bpy.types.Node:
        node = new("ShaderNodeMath")
        node.operation = op
        for i, x in enumerate((a, b)):
            if x is None:
                continue
            if isinstance(x, (int, float)):
                node.inputs[i].default_value = float(x)
            else:
                links.new(x, node.inputs[i])
        return node

    def vmath(op: str, a, b=None) -> bpy.types.Node:
        node = new("ShaderNodeVectorMath")
        node.operation = op
        links.new(a, node.inputs[0])
        if b is not None:
            links.new(b, node.inputs[1])
        return node

    col, part, opacity = attr("Col", "Vector"), attr("part"), attr("opacity")
    to_fac = math("MULTIPLY_ADD", part, 1.0 / NUM_PARTS)  # (part + 0.5) / 28
    to_fac.inputs[2].default_value = 0.5 / NUM_PARTS
    ramp = new("ShaderNodeValToRGB")
    ramp.color_ramp.interpolation = "CONSTANT"
    elements = ramp.color_ramp.elements
    while len(elements) < NUM_PARTS:
        elements.new(0.5)
    linear = srgb_to_linear(PALETTE / 255.0)
    for k in range(NUM_PARTS):
        elements[k].position = k / NUM_PARTS
    for k in range(NUM_PARTS):  # positions sort the elements; colour them afterwards
        elements[k].color = (*linear[k], 1.0)
    links.new(to_fac.outputs[0], ramp.inputs["Fac"])
    switch = new("ShaderNodeValue")
    switch.name = switch.label = PART_SWITCH
    switch.outputs[0].default_value = 0.0
    mix = new("ShaderNodeMix")
    mix.data_type = "RGBA"
    links.new(switch.outputs[0], mix.inputs["Factor"])
    links.new(col, mix.inputs["A"])
    links.new(ramp.outputs["Color"], mix.inputs["B"])
    emit = new("ShaderNodeEmission")
    links.new(mix.outputs["Result"], emit.inputs["Color"])

    # d^2 of the view ray from the centre, in the splat's whitened (sigma) space: p is
    # the proxy's own coordinate (hcP); the view direction is mapped by the instance's
    # transform (render: World -> Object is the instance's space) or, on realised viewport
    # geometry (hcReal = 1), by the stored rows hcM0..2 of (R S)^-1 after World -> Object
    geo = new("ShaderNodeNewGeometry")
    to_obj = new("ShaderNodeVectorTransform")
    to_obj.vector_type, to_obj.convert_from, to_obj.convert_to = "VECTOR", "WORLD", "OBJECT"
    links.new(geo.outputs["Incoming"], to_obj.inputs["Vector"])  # bpy 5.3: input 0 is hidden
    vw = to_obj.outputs[0]
    rows = new("ShaderNodeCombineXYZ")
    for i in range(3):
        m = lookup(f"hcM{i}", "GEOMETRY")
        links.new(vmath("DOT_PRODUCT", m.outputs["Vector"], vw).outputs["Value"], rows.inputs[i])
    pick = new("ShaderNodeMix")
    pick.data_type = "VECTOR"
    links.new(lookup("hcReal", "GEOMETRY").outputs["Fac"], pick.inputs["Factor"])
    links.new(vw, pick.inputs[4])  # A (vector)
    links.new(rows.outputs[0], pick.inputs[5])  # B (vector)
    p, v = lookup("hcP", "GEOMETRY").outputs["Vector"], pick.outputs[1]
    pp = vmath("DOT_PRODUCT", p, p)
    pv = vmath("DOT_PRODUCT", p, v)
    vv = vmath("DOT_PRODUCT", v, v)
    along = math("DIVIDE", math("POWER", pv.outputs["Value"], 2.0).outputs[0],
                 math("MAXIMUM", vv.outputs["Value"], 1e-20).outputs[0])  # fmt: skip
    d2 = math("MAXIMUM", math("SUBTRACT", pp.outputs["Value"], along.outputs[0]).outputs[0], 0.0)
    kernel = math("EXPONENT", math("MULTIPLY", d2.outputs[0], -0.5).outputs[0])
    cut = attr("hcCut")  # "Size (sigma)" of the display modifier
    inside = math("LESS_THAN", d2.outputs[0], math("POWER", cut, 2.0).outputs[0])
    soft = new("ShaderNodeValue")
    soft.name = soft.label = SOFT_SWITCH
    soft.outputs[0].default_value = 1.0
    # alpha = soft ? opacity * kernel * inside : 1 ; and nothing on back faces
    gauss = math("MULTIPLY", math("MULTIPLY", opacity, kernel.outputs[0]).outputs[0],
                 inside.outputs[0])  # fmt: skip
    blend = new("ShaderNodeMix")
    blend.data_type = "FLOAT"
    links.new(soft.outputs[0], blend.inputs["Factor"])
    blend.inputs["A"].default_value = 1.0
    links.new(gauss.outputs[0], blend.inputs["B"])
    front = math("SUBTRACT", 1.0, geo.outputs["Backfacing"])
    alpha = math("MULTIPLY", blend.outputs["Result"], front.outputs[0])
    clear = new("ShaderNodeBsdfTransparent")
    shader = new("ShaderNodeMixShader")
    links.new(alpha.outputs[0], shader.inputs["Fac"])
    links.new(clear.outputs[0], shader.inputs[1])
    links.new(emit.outputs[0], shader.inputs[2])
    out = new("ShaderNodeOutputMaterial")
    links.new(shader.outputs[0], out.inputs["Surface"])
    for i, node in enumerate(nt.nodes):
        node.location = ((i % 8) * 220 - 900, -(i // 8) * 260)
    out.location = (900, 0)


def configure_scene(scene: bpy.types.Scene, min_transparent_bounces: int = 256) -> None:
    """Render settings the Gaussian display needs: Cycles may pass through that many
    overlapping splats per ray (its default of 8 paints the back splats black), and the
    interface is locked while rendering, so the pose handler (``rigging``), which writes
    each frame's splat rotations, never races a render thread."""
    scene.render.use_lock_interface = True
    cycles = getattr(scene, "cycles", None)
    if cycles is not None and cycles.transparent_max_bounces < min_transparent_bounces:
        cycles.transparent_max_bounces = min_transparent_bounces
        cycles.max_bounces = max(cycles.max_bounces, min_transparent_bounces)


def show_colours_in_solid_views(screen_owner=None) -> int:
    """Switch 3D views in Solid shading that colour by material (Blender's default) to
    colour by attribute, so splats show their colours there; returns how many changed."""
    wm = screen_owner or getattr(bpy.context, "window_manager", None)
    changed = 0
    for window in getattr(wm, "windows", []):
        for area in window.screen.areas:
            if area.type != "VIEW_3D":
                continue
            for space in area.spaces:
                shading = getattr(space, "shading", None)
                if (
                    shading is not None
                    and shading.type == "SOLID"
                    and (shading.color_type == "MATERIAL")
                ):
                    shading.color_type = "VERTEX"  # shown as "Attribute" in the UI
                    changed += 1
    return changed


def camera_focal_px(scene: bpy.types.Scene) -> float:
    """The scene camera's focal length in render pixels (0 without a perspective camera)."""
    cam = scene.camera
    if cam is None or cam.type != "CAMERA" or cam.data.type != "PERSP":
        return 0.0
    r = scene.render
    w = r.resolution_x * r.resolution_percentage / 100 * r.pixel_aspect_x
    h = r.resolution_y * r.resolution_percentage / 100 * r.pixel_aspect_y
    fit = cam.data.sensor_fit
    if fit == "AUTO":
        fit = "HORIZONTAL" if w >= h else "VERTICAL"
    if fit == "HORIZONTAL":
        return cam.data.lens / cam.data.sensor_width * w
    return cam.data.lens / cam.data.sensor_height * h


def input_prop(mod: bpy.types.Modifier, identifier: str) -> tuple[bpy.types.bpy_struct, str]:
    """(owner, property) of the Geometry Nodes modifier input ``identifier`` (``Socket_N``),
    for ``layout.prop``: bpy 5.3 keeps input values in ``mod.properties.inputs``, 5.0 and
    older as ID properties of the modifier."""
    props = getattr(mod, "properties", None)
    if props is not None and hasattr(props, "inputs"):
        return getattr(props.inputs, identifier), "value"
    return mod, f'["{identifier}"]'


def get_input(mod: bpy.types.Modifier, name: str, default=None):
    """The value of the modifier's input socket called ``name`` (``default`` without one)."""
    identifier = input_id(mod, name)
    if identifier is None:
        return default
    owner, prop = input_prop(mod, identifier)
    return owner.value if prop == "value" else owner.get(identifier, default)


def set_input(mod: bpy.types.Modifier, name: str, value) -> None:
    """Set the modifier's input socket called ``name`` (the object still needs
    ``update_tag``)."""
    identifier = input_id(mod, name)
    if identifier is None:
        raise KeyError(f"{mod.node_group.name} has no input {name!r}")
    owner, prop = input_prop(mod, identifier)
    if prop == "value":
        owner.value = value
    else:
        owner[identifier] = value


def input_id(mod: bpy.types.Modifier, name: str) -> str | None:
    """The identifier (``Socket_N``) of the modifier's input socket called ``name``."""
    for item in mod.node_group.interface.items_tree:
        if item.item_type == "SOCKET" and item.in_out == "INPUT" and item.name == name:
            return item.identifier
    return None


def sync_camera(scene: bpy.types.Scene) -> None:
    """Give every splat display of ``scene`` the camera's focal length (the dilation's
    pixel size); called at import and before each render."""
    focal = camera_focal_px(scene)
    for obj in scene.objects:
        mod = obj.modifiers.get(MODIFIER) if obj.type == "MESH" else None
        if mod is None or mod.node_group is None:
            continue
        if input_id(mod, "Focal (px)") is None:
            continue
        if abs(get_input(mod, "Focal (px)", 0.0) - focal) > 1e-6:
            set_input(mod, "Focal (px)", focal)
            obj.update_tag()


@bpy.app.handlers.persistent
def _render_pre(scene, *args) -> None:
    sync_camera(scene)


def set_soft(obj: bpy.types.Object, on: bool) -> None:
    """Gaussian splats (``on``, the default) or opaque ellipsoids (the old display)."""
    splat_material(obj).node_tree.nodes[SOFT_SWITCH].outputs[0].default_value = float(on)


def set_part_colours(obj: bpy.types.Object, on: bool) -> None:
    """Show the Sapiens palette (``on``) or the splat colours; an object without part
    labels always shows its own colours (its palette would be all Background)."""
    on = on and "part" in obj.data.attributes
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


def _shown(sockets) -> list:
    """The sockets a node shows for its data type. Compare and Random Value in bpy 5.0 and
    older keep hidden sockets for the other types (Compare's INT A is input 2); 5.3 has
    only the data type's own."""
    return [s for s in sockets if s.enabled]


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
    rest = attr("rotation", "QUATERNION", -300)
    # the pose's turn of each splat (written by :mod:`.rigging` as the armature moves;
    # absent or identity when unposed): world = pose ∘ rest
    pose = attr(POSE_ATTRIBUTE, "QUATERNION", -380)
    turned = new("FunctionNodeRotateRotation")
    turned.rotation_space = "GLOBAL"  # Rotate By applied after Rotation: pose @ rest
    nt.links.new(rest.outputs["Attribute"], turned.inputs["Rotation"])
    nt.links.new(pose.outputs["Attribute"], turned.inputs["Rotate By"])
    rotation = new("GeometryNodeSwitch")  # without the attribute: the rest rotation
    rotation.input_type = "ROTATION"
    nt.links.new(pose.outputs["Exists"], rotation.inputs["Switch"])
    nt.links.new(rest.outputs["Attribute"], rotation.inputs["False"])
    nt.links.new(turned.outputs[0], rotation.inputs["True"])
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
    nt.links.new(_shown(keep.outputs)[0], thin.inputs[1])

    visible = new("FunctionNodeBooleanMath")
    visible.operation = "NIMPLY"  # above and not hidden
    nt.links.new(above.outputs[0], visible.inputs[0])
    nt.links.new(hidden.outputs["Attribute"], visible.inputs[1])
    selected = new("FunctionNodeBooleanMath")
    selected.operation = "AND"
    nt.links.new(visible.outputs[0], selected.inputs[0])
    nt.links.new(thin.outputs[0], selected.inputs[1])

    # dilated scale: sqrt(scale² + eps2d (|p - camera| / focal)²), 0 without a focal
    cam = new("GeometryNodeInputActiveCamera")
    info = new("GeometryNodeObjectInfo")
    info.transform_space = "RELATIVE"
    nt.links.new(cam.outputs[0], info.inputs["Object"])
    where = new("GeometryNodeInputPosition")
    dist = new("ShaderNodeVectorMath")
    dist.operation = "DISTANCE"
    nt.links.new(where.outputs[0], dist.inputs[0])
    nt.links.new(info.outputs["Location"], dist.inputs[1])
    per_px = new("ShaderNodeMath")  # distance / focal (0 when focal is 0)
    per_px.operation = "DIVIDE"
    nt.links.new(dist.outputs["Value"], per_px.inputs[0])
    nt.links.new(gin.outputs["Focal (px)"], per_px.inputs[1])
    sq = new("ShaderNodeMath")
    sq.operation = "MULTIPLY"
    nt.links.new(per_px.outputs[0], sq.inputs[0])
    nt.links.new(per_px.outputs[0], sq.inputs[1])
    eps2 = new("ShaderNodeMath")
    eps2.operation = "MULTIPLY"
    nt.links.new(sq.outputs[0], eps2.inputs[0])
    nt.links.new(gin.outputs["Dilation (px²)"], eps2.inputs[1])
    s2 = new("ShaderNodeVectorMath")
    s2.operation = "MULTIPLY"
    nt.links.new(scale.outputs["Attribute"], s2.inputs[0])
    nt.links.new(scale.outputs["Attribute"], s2.inputs[1])
    grown = new("ShaderNodeVectorMath")
    grown.operation = "ADD"
    nt.links.new(s2.outputs[0], grown.inputs[0])
    nt.links.new(eps2.outputs[0], grown.inputs[1])  # a float into a vector: all three
    root = new("ShaderNodeVectorMath")
    if "POWER" in root.bl_rna.properties["operation"].enum_items:
        root.operation = "POWER"
        nt.links.new(grown.outputs[0], root.inputs[0])
        root.inputs[1].default_value = (0.5, 0.5, 0.5)
    else:  # bpy 4.2 has no vector power: the square root of each component
        nt.nodes.remove(root)
        xyz, root = new("ShaderNodeSeparateXYZ"), new("ShaderNodeCombineXYZ")
        nt.links.new(grown.outputs[0], xyz.inputs[0])
        for axis in ("X", "Y", "Z"):
            sqrt = new("ShaderNodeMath")
            sqrt.operation = "SQRT"
            nt.links.new(xyz.outputs[axis], sqrt.inputs[0])
            nt.links.new(sqrt.outputs[0], root.inputs[axis])
    sigma = root.outputs[0]

    # rows of (R S)^-1 = S^-1 R^T (R's columns over the scales): the shader's map of
    # the view direction into a splat's whitened space on realised (viewport) geometry
    split = new("ShaderNodeSeparateXYZ")
    nt.links.new(sigma, split.inputs[0])
    with_rows = gin.outputs["Geometry"]
    for i, axis in enumerate(("X", "Y", "Z")):
        rot = new("FunctionNodeRotateVector")
        rot.inputs["Vector"].default_value = [float(i == j) for j in range(3)]
        nt.links.new(rotation.outputs[0], rot.inputs["Rotation"])
        inv = new("ShaderNodeMath")
        inv.operation = "DIVIDE"
        inv.inputs[0].default_value = 1.0
        nt.links.new(split.outputs[axis], inv.inputs[1])
        row = new("ShaderNodeVectorMath")
        row.operation = "SCALE"
        nt.links.new(rot.outputs[0], row.inputs[0])
        nt.links.new(inv.outputs[0], row.inputs["Scale"])
        with_rows = _store(nt, with_rows, f"hcM{i}", "FLOAT_VECTOR", "POINT", row.outputs[0])

    radius = new("ShaderNodeMath")  # the proxy encloses the ball of radius Size (sigma)
    radius.operation = "DIVIDE"
    nt.links.new(gin.outputs["Size (sigma)"], radius.inputs[0])
    radius.inputs[1].default_value = IN_RADIUS
    sphere = new("GeometryNodeMeshIcoSphere")
    nt.links.new(radius.outputs[0], sphere.inputs["Radius"])
    nt.links.new(gin.outputs["Detail"], sphere.inputs["Subdivisions"])
    here = new("GeometryNodeInputPosition")  # the proxy's own coordinates = whitened space
    proxy = _store(nt, sphere.outputs["Mesh"], "hcP", "FLOAT_VECTOR", "POINT", here.outputs[0])
    solid = new("GeometryNodeMeshIcoSphere")  # part materials: opaque 1.5-sigma ellipsoids
    solid.inputs["Radius"].default_value = 1.5
    solid.inputs["Subdivisions"].default_value = 1

    join = new("GeometryNodeJoinGeometry")
    join.location = (600, 0)
    for k, mat in enumerate([base, *extra]):
        is_k = new("FunctionNodeCompare")
        is_k.data_type, is_k.operation = "INT", "EQUAL"
        a, b = _shown(is_k.inputs)[:2]
        nt.links.new(slot.outputs["Attribute"], a)
        b.default_value = k
        sel = new("FunctionNodeBooleanMath")
        sel.operation = "AND"
        nt.links.new(selected.outputs[0], sel.inputs[0])
        nt.links.new(is_k.outputs[0], sel.inputs[1])
        setmat = new("GeometryNodeSetMaterial")
        setmat.inputs["Material"].default_value = mat
        nt.links.new(proxy if k == 0 else solid.outputs["Mesh"], setmat.inputs["Geometry"])
        inst = new("GeometryNodeInstanceOnPoints")
        inst.location = (300, -300 * k)
        nt.links.new(with_rows, inst.inputs["Points"])
        nt.links.new(sel.outputs[0], inst.inputs["Selection"])
        nt.links.new(setmat.outputs[0], inst.inputs["Instance"])
        nt.links.new(rotation.outputs[0], inst.inputs["Rotation"])
        nt.links.new(sigma if k == 0 else scale.outputs["Attribute"], inst.inputs["Scale"])
        nt.links.new(inst.outputs[0], join.inputs[0])
    size = new("ShaderNodeMath")  # "Size (sigma)" as a field, for the shader's cut-off
    size.operation = "ADD"
    nt.links.new(gin.outputs["Size (sigma)"], size.inputs[0])
    instances = _store(nt, _lean(nt, join.outputs[0]), "hcCut", "FLOAT", "INSTANCE",
                       size.outputs[0])  # fmt: skip

    # Viewport: the instances realised behind a one-point stub of the input mesh, which
    # carries its active colour attribute ("Col"), so the Solid viewport in Attribute
    # colour shows the splat colours; the shader reads the same values as geometry
    # attributes there (hcReal = 1).
    index = new("GeometryNodeInputIndex")
    rest = new("FunctionNodeCompare")
    rest.data_type, rest.operation = "INT", "GREATER_THAN"
    nt.links.new(index.outputs[0], _shown(rest.inputs)[0])
    stub = new("GeometryNodeDeleteGeometry")
    nt.links.new(gin.outputs["Geometry"], stub.inputs["Geometry"])
    nt.links.new(rest.outputs[0], stub.inputs["Selection"])
    real = new("GeometryNodeRealizeInstances")
    nt.links.new(instances, real.inputs[0])
    flagged = _store(nt, real.outputs[0], "hcReal", "FLOAT", "POINT", 1.0)
    merged = new("GeometryNodeJoinGeometry")  # a new link goes first: the stub last
    nt.links.new(flagged, merged.inputs[0])
    nt.links.new(_lean(nt, stub.outputs[0]), merged.inputs[0])
    switch = new("GeometryNodeSwitch")
    switch.input_type = "GEOMETRY"
    nt.links.new(viewport.outputs[0], switch.inputs["Switch"])
    nt.links.new(instances, switch.inputs["False"])
    nt.links.new(merged.outputs[0], switch.inputs["True"])
    nt.links.new(switch.outputs[0], gout.inputs["Geometry"])


# Attributes the display does not need past instancing (the file's own values, the
# vertex groups): dropped so that instances and realised viewport meshes stay small.
_DROP_WILDCARD = ("sh_*", "model_*", "log_*", "rot_*", "opacity_*", "part_*", "hc_*",
                  "Left_*", "Right_*", "Face_*", "Lower_*", "Upper_*", "skin_*", "left_*",
                  "right_*", "spine*")  # one * each  # fmt: skip
_DROP_EXACT = ("normal", "rotation", "scale", "Background", "Apparel", "Hair", "Torso",
               "Tongue", "pelvis", "neck", "head")  # fmt: skip
LEAN_GROUP = ".HC Lean Splats"  # the dropping chain, one node group shared by every display
_LEAN_KEY = "hc_drop"  # the group's custom property: the patterns it was built for


def _lean_group() -> bpy.types.GeometryNodeTree:
    """The shared node group that drops the attributes above (27 Remove Named Attribute
    nodes), built once per file and rebuilt when the patterns change. Kept out of each
    object's display group because every node added to a tree costs time in proportion
    to the tree's size (Blender re-evaluates the whole tree after each change), so a
    smaller display tree builds several times faster at import."""
    patterns = [(p, "Wildcard") for p in _DROP_WILDCARD] + [(p, "Exact") for p in _DROP_EXACT]
    key = ";".join(f"{mode}:{p}" for p, mode in patterns)
    group = bpy.data.node_groups.get(LEAN_GROUP)
    if group is not None and group.bl_idname == "GeometryNodeTree" and group.get(_LEAN_KEY) == key:
        return group
    if group is None or group.bl_idname != "GeometryNodeTree":
        group = bpy.data.node_groups.new(LEAN_GROUP, "GeometryNodeTree")
        group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
        group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    group.nodes.clear()
    gin, gout = group.nodes.new("NodeGroupInput"), group.nodes.new("NodeGroupOutput")
    geometry = gin.outputs[0]
    for i, (pattern, mode) in enumerate(patterns):
        node = group.nodes.new("GeometryNodeRemoveAttribute")
        node.location = (200 * (i + 1), 0)
        if "Pattern Mode" in node.inputs:  # an input from bpy 5.0 on, a property in 4.x
            node.inputs["Pattern Mode"].default_value = mode
        else:
            node.pattern_mode = mode.upper()
        node.inputs["Name"].default_value = pattern
        group.links.new(geometry, node.inputs["Geometry"])
        geometry = node.outputs[0]
    gout.location = (200 * (len(patterns) + 1), 0)
    group.links.new(geometry, gout.inputs[0])
    group[_LEAN_KEY] = key
    return group


def _lean(nt, geometry):
    node = nt.nodes.new("GeometryNodeGroup")
    node.node_tree = _lean_group()
    nt.links.new(geometry, node.inputs[0])
    return node.outputs[0]


def _store(nt, geometry, name: str, data_type: str, domain: str, value):
    node = nt.nodes.new("GeometryNodeStoreNamedAttribute")
    node.data_type, node.domain = data_type, domain
    node.inputs["Name"].default_value = name
    nt.links.new(geometry, node.inputs["Geometry"])
    if isinstance(value, float):
        node.inputs["Value"].default_value = value
    else:
        nt.links.new(value, node.inputs["Value"])
    return node.outputs[0]
