"""The Gaussian display: each splat drawn as its oriented Gaussian (alpha = opacity ·
exp(−½ d²)), the same in renders (instances) and in the viewport (realised, with the
colours the Solid view shows), and the render settings it needs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synth_body import body


def _mod(addon, name):
    return __import__(f"{addon.__name__}.{name}", fromlist=["x"])


def _quat_about_y(deg: float) -> np.ndarray:
    h = math.radians(deg) / 2
    return np.float32([math.cos(h), 0.0, math.sin(h), 0.0])  # w x y z


@pytest.fixture
def one_splat(scene, addon):
    """One anisotropic splat at the origin, rotated 30° about the view axis (Y)."""
    import bpy

    importer, ops, meshdata = (_mod(addon, n) for n in ("importer", "operators", "meshdata"))
    s = body(2, seed=3)
    s = s.subset(np.array([True, False]))
    obj, report = importer.create_object(s, "one", 1.0, scene.collection)
    ops.present_import(obj, report, scene)
    sigma = np.float32([[0.20, 0.03, 0.08]])  # x, y (view axis), z in metres
    q = _quat_about_y(30.0)[None]
    meshdata.write(obj.data, "position", "FLOAT_VECTOR", np.zeros((1, 3), np.float32))
    meshdata.write(obj.data, "scale", "FLOAT_VECTOR", sigma)
    meshdata.write(obj.data, "rotation", "QUATERNION", q)
    meshdata.write(obj.data, "opacity", "FLOAT", np.float32([0.8]))
    meshdata.write(obj.data, "Col", "FLOAT_COLOR", np.float32([[0.6, 0.3, 0.1, 0.8]]))
    obj.data.update()
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    cam.data.type, cam.data.ortho_scale = "ORTHO", 1.0
    cam.location, cam.rotation_euler = (0.0, -2.0, 0.0), (math.pi / 2, 0.0, 0.0)
    scene.camera = cam
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples = "CPU", 8
    scene.cycles.use_denoising = False
    scene.cycles.filter_width = 0.01  # one ray per pixel centre
    scene.render.resolution_x = scene.render.resolution_y = 64
    scene.render.film_transparent = True
    scene.world = None
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.file_format = "OPEN_EXR"
    return obj, sigma[0], q[0]


def _render(tmp_path, name):
    import bpy

    path = tmp_path / f"{name}.exr"
    bpy.context.scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    img = bpy.data.images.load(str(path))
    px = np.array(img.pixels[:], np.float32).reshape(64, 64, 4)[::-1]  # top row first
    bpy.data.images.remove(img)
    return px


def _expected_alpha(sigma, q, cutoff=3.0):
    """opacity · exp(−½ d²) of the ray through each pixel centre (orthographic along +Y):
    the ray's closest Mahalanobis distance is that of the marginal on the x–z plane."""
    w, x, y, z = q
    r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                  [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                  [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])  # fmt: skip
    cov = r @ np.diag(sigma.astype(np.float64) ** 2) @ r.T
    inv = np.linalg.inv(cov[np.ix_([0, 2], [0, 2])])
    c = (np.arange(64) + 0.5) / 64 - 0.5  # pixel centres in metres (ortho scale 1)
    gx, gz = np.meshgrid(c, -c)  # image x right = world x, image rows top = +z
    pts = np.stack([gx, gz], -1)
    d2 = np.einsum("...i,ij,...j->...", pts, inv, pts)
    return 0.8 * np.exp(-0.5 * d2) * (d2 < cutoff**2)


def test_each_splat_is_its_oriented_gaussian(one_splat, addon, tmp_path):
    obj, sigma, q = one_splat
    px = _render(tmp_path, "gauss")
    want = _expected_alpha(sigma, q)
    err = np.abs(px[..., 3] - want)
    assert err.max() < 0.05, err.max()
    assert err.mean() < 0.01, err.mean()
    inside = want > 0.2
    colour = px[inside, :3] / px[inside, 3:4]  # EXR is premultiplied
    np.testing.assert_allclose(colour.mean(0), [0.6, 0.3, 0.1], atol=0.02)
    # the old display: an opaque ellipsoid, hard-edged (alpha 0 or 1)
    _mod(addon, "display").set_soft(obj, False)
    hard = _render(tmp_path, "hard")[..., 3]
    assert ((hard < 0.02) | (hard > 0.98)).mean() > 0.97


def test_viewport_realised_display_matches_the_render(scene, addon, tmp_path):
    """In the viewport the instances are realised (Solid view: colours of the active
    colour attribute ``Col``); the shader gives the same picture from those."""
    import bpy

    s = body(3000, seed=2)
    path = tmp_path / "b.ply"
    _mod(addon, "importer")  # the add-on is loaded
    from humancrafter.portable import splatfile

    splatfile.save(path, s)
    bpy.ops.humancrafter.import_splats(filepath=str(path), target_height=1.0)
    obj = bpy.context.view_layer.objects.active
    assert scene.cycles.transparent_max_bounces >= 256  # set by the import
    dg = bpy.context.evaluated_depsgraph_get()
    mesh = obj.evaluated_get(dg).data
    assert mesh.color_attributes.active_color_name == "Col"
    col = np.zeros((len(mesh.vertices), 4), np.float32)
    mesh.attributes["Col"].data.foreach_get("color", col.ravel())
    own = np.zeros((len(obj.data.vertices), 4), np.float32)
    obj.data.attributes["Col"].data.foreach_get("color", own.ravel())
    # every proxy vertex carries its splat's colour (12 per icosahedron, after the stub)
    np.testing.assert_array_equal(col[1:].reshape(-1, 12, 4)[:, 0], own)
    heavy = {a.name for a in mesh.attributes if a.name.startswith(("sh_", "model_"))}
    assert not heavy  # the file's own values are not copied onto the proxies
    names = {a.name for a in mesh.attributes}
    assert not names & {"normal", "rotation", "scale", "opacity_logit", "log_scale", "rot_wxyz",
                        "part_conf", "hc_hidden", "hc_material"}, names  # fmt: skip
    assert {"Col", "part", "opacity", "hcCut", "hcP", "hcReal"} <= names, names

    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = (0.0, -2.2, 0.5), (math.pi / 2, 0.0, 0.0)
    scene.camera = cam
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples = "CPU", 4
    scene.cycles.seed = 0
    scene.render.resolution_x, scene.render.resolution_y = 32, 48
    scene.render.film_transparent = True
    scene.world = None
    scene.render.image_settings.file_format = "OPEN_EXR"

    def shoot(name):
        scene.render.filepath = str(tmp_path / f"{name}.exr")
        bpy.ops.render.render(write_still=True)
        img = bpy.data.images.load(str(tmp_path / f"{name}.exr"))
        px = np.array(img.pixels[:], np.float32)
        bpy.data.images.remove(img)
        return px

    rendered = shoot("instances")
    group = obj.modifiers["HumanCrafter Display"].node_group
    switch = next(n for n in group.nodes if n.type == "SWITCH")
    group.links.remove(switch.inputs["Switch"].links[0])
    switch.inputs["Switch"].default_value = True  # render the viewport's geometry
    realised = shoot("realised")
    assert rendered.reshape(-1, 4)[:, 3].max() > 0.5
    assert np.abs(rendered - realised).mean() < 1e-3


def test_eevee_draws_the_same_gaussian(one_splat, addon, tmp_path):
    """EEVEE (headless, software OpenGL here) shows the same soft, oriented Gaussian."""
    import bpy

    obj, sigma, q = one_splat
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_EEVEE" if bpy.app.version >= (5, 0) else "BLENDER_EEVEE_NEXT"
    scene.eevee.taa_render_samples = 64
    scene.render.filter_size = 0.0  # pixel centres, as the Cycles test and the reference
    px = _render(tmp_path, "eevee")
    want = _expected_alpha(sigma, q)
    err = np.abs(px[..., 3] - want)
    assert err.max() < 0.1, err.max()
    assert err.mean() < 0.02, err.mean()
    inside = want > 0.2
    colour = px[inside, :3] / px[inside, 3:4]
    np.testing.assert_allclose(colour.mean(0), [0.6, 0.3, 0.1], atol=0.04)


def test_displays_share_one_lean_group(scene, addon, tmp_path):
    """The attribute-dropping step is one node group used by every display (built once
    per file, so each import builds a small display tree), rebuilt when it is stale."""
    import bpy

    display = _mod(addon, "display")
    path = tmp_path / "b.ply"
    from humancrafter.portable import splatfile

    splatfile.save(path, body(500, seed=4))
    objs = []
    for _ in range(2):
        bpy.ops.humancrafter.import_splats(filepath=str(path), target_height=1.0)
        objs.append(bpy.context.view_layer.objects.active)
    lean = bpy.data.node_groups[display.LEAN_GROUP]
    assert [g.name for g in bpy.data.node_groups].count(display.LEAN_GROUP) == 1
    for obj in objs:
        group = obj.modifiers[display.MODIFIER].node_group
        used = [n.node_tree for n in group.nodes if n.bl_idname == "GeometryNodeGroup"]
        assert used == [lean, lean]  # instances and the viewport stub
    removes = [n for n in lean.nodes if n.bl_idname == "GeometryNodeRemoveAttribute"]
    assert len(removes) == len(display._DROP_WILDCARD) + len(display._DROP_EXACT)
    lean[display._LEAN_KEY] = "an older add-on's patterns"
    lean.nodes.remove(removes[0])
    display.ensure_display(objs[0])
    assert bpy.data.node_groups[display.LEAN_GROUP] == lean  # rebuilt in place
    assert len([n for n in lean.nodes if n.bl_idname == "GeometryNodeRemoveAttribute"]) == len(
        removes
    )
    dg = bpy.context.evaluated_depsgraph_get()
    names = {a.name for a in objs[1].evaluated_get(dg).data.attributes}
    assert "sh_dc" not in names and "Col" in names
