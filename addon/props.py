"""Blender properties of the add-on: per-scene panel settings and job state, per-object
part list."""

from __future__ import annotations

import bpy

from . import display, part_tools

MODES = (
    ("fast", "Fast", "One photo; body prior posed from the photo (CPU)"),
    ("multiview", "Multi-view", "2-4 views of the person, each with its azimuth"),
    ("full", "Full", "One photo; multi-view diffusion guided by the body (local weights, CUDA)"),
    ("prior", "Body prior", "One photo; the body prior only (baseline, fastest)"),
)


def _visible_update(self, context):
    obj = self.id_data
    part_tools.set_visible(obj, [self.part_id], self.visible)


def _part_colours_update(self, context):
    display.set_part_colours(self, self.hc_show_part_colours)


class HCPartItem(bpy.types.PropertyGroup):
    part_id: bpy.props.IntProperty()
    count: bpy.props.IntProperty()
    color: bpy.props.FloatVectorProperty(subtype="COLOR", size=3, min=0.0, max=1.0)
    visible: bpy.props.BoolProperty(default=True, update=_visible_update)


class HCView(bpy.types.PropertyGroup):
    filepath: bpy.props.StringProperty(name="Photo", subtype="FILE_PATH")
    azimuth: bpy.props.FloatProperty(
        name="Azimuth", description="Degrees around the person (0 = front, 90 = their left)",
        default=90.0, min=-180.0, max=360.0,
    )  # fmt: skip


class HCSceneSettings(bpy.types.PropertyGroup):
    source: bpy.props.EnumProperty(
        name="Photo from",
        items=(
            ("FILE", "File", "A photo file on disk"),
            ("IMAGE", "Image", "An image loaded in Blender"),
        ),
    )
    filepath: bpy.props.StringProperty(name="Photo", subtype="FILE_PATH")
    image: bpy.props.PointerProperty(name="Image", type=bpy.types.Image)
    azimuth: bpy.props.FloatProperty(name="Azimuth", default=0.0, min=-180.0, max=360.0)
    views: bpy.props.CollectionProperty(type=HCView)
    # "prior" until the trained checkpoint ships; then "fast" becomes the default
    # (docs/design.md, "Pipeline modes").
    mode: bpy.props.EnumProperty(name="Mode", items=MODES, default="prior")
    target_height: bpy.props.FloatProperty(
        name="Height", description="Height of the person in the scene", default=1.75,
        min=0.05, max=100.0, unit="LENGTH",
    )  # fmt: skip
    num_gaussians: bpy.props.IntProperty(name="Splats", default=40_000, min=20_000, max=1_000_000)
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0)
    # job state, written by the main-thread timer
    status: bpy.props.StringProperty(default="idle")
    stage: bpy.props.StringProperty(default="")
    progress: bpy.props.FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    message: bpy.props.StringProperty(default="")
    connection: bpy.props.StringProperty(default="Not checked yet.")
    connection_ok: bpy.props.BoolProperty(default=False)
    smooth_weights: bpy.props.FloatProperty(
        name="Weight smoothing", description="Blend weights across joints within this radius",
        default=0.03, min=0.0, max=1.0, unit="LENGTH",
    )  # fmt: skip


CLASSES = (HCPartItem, HCView, HCSceneSettings)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.humancrafter = bpy.props.PointerProperty(type=HCSceneSettings)
    bpy.types.Object.hc_parts = bpy.props.CollectionProperty(type=HCPartItem)
    bpy.types.Object.hc_parts_index = bpy.props.IntProperty()
    bpy.types.Object.hc_show_part_colours = bpy.props.BoolProperty(
        name="Part colours",
        description="Show the Sapiens part palette instead of the splat colours",
        update=_part_colours_update,
    )


def unregister() -> None:
    del bpy.types.Object.hc_show_part_colours
    del bpy.types.Object.hc_parts_index
    del bpy.types.Object.hc_parts
    del bpy.types.Scene.humancrafter
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
