"""Blender properties of the add-on: per-scene panel settings and job state, per-object
part list."""

from __future__ import annotations

import bpy

from . import display, part_tools

# Every mode the backend knows (docs/design.md, "Pipeline modes"): name, label, tooltip
# and a fixed enum number. The menu offers only the modes the backend's /v1/health last
# said it can run (``AVAILABLE``); before any answer that is "prior", which runs everywhere.
MODES = (
    ("prior", "Body prior", "One photo: the body prior posed from the photo, no network "
     "(runs on any CPU; the baseline, fastest)", 0),
    ("fast", "Fast", "One photo: the body prior posed from the photo, corrected by the "
     "trained HumanCrafter network (CPU is fine)", 1),
    ("multiview", "Multi-view", "2-4 photos of the person, each with its azimuth "
     "(0 = front, 90 = their left), fused by the trained network (CPU is fine)", 2),
    ("full", "Full", "One photo: multi-view diffusion guided by the body (needs CUDA and "
     "local SV3D / DINOv2 weights)", 3),
)  # fmt: skip
AVAILABLE: list[str] = ["prior"]
_ITEMS: list[tuple] = []  # Blender needs the strings of dynamic items kept alive


def _mode_items(self, context):
    _ITEMS[:] = [(n, label, tip, "", k) for n, label, tip, k in MODES if n in AVAILABLE]
    return _ITEMS


def default_mode(available: list[str]) -> str:
    """``prior`` (the default, chosen on real photos) when the backend can run it, else
    ``fast``, else the first it offers."""
    for m in ("prior", "fast"):
        if m in available:
            return m
    return available[0] if available else "prior"


def set_available_modes(st, health: dict) -> None:
    """Take the ready modes from a ``/v1/health`` answer; keep the chosen mode if it is
    still ready, else switch to :func:`default_mode`."""
    modes = health.get("modes") or {}
    known = [n for n, *_ in MODES]
    ready = [m for m in known if (modes.get(m) or {}).get("available")]
    previous = current_mode(st)
    first = not st.modes_checked
    AVAILABLE[:] = ready or ["prior"]
    st.modes_checked = True
    st.mode = default_mode(AVAILABLE) if first or previous not in AVAILABLE else previous


def current_mode(st) -> str:
    """The chosen mode's name ("prior" when the stored choice is not offered)."""
    return st.mode or "prior"


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
    mode: bpy.props.EnumProperty(
        name="Mode", items=_mode_items,
        description="Reconstruction mode: only those the backend can run are offered",
    )  # fmt: skip
    modes_checked: bpy.props.BoolProperty(default=False)
    target_height: bpy.props.FloatProperty(
        name="Height", description="Height of the person in the scene", default=1.75,
        min=0.05, max=100.0, unit="LENGTH",
    )  # fmt: skip
    num_gaussians: bpy.props.IntProperty(name="Splats", default=40_000, min=20_000, max=1_000_000)
    seed: bpy.props.IntProperty(
        name="Seed", default=0, min=0,
        description="Random seed of the reconstruction: the same photo, options and seed "
        "give the same splats",
    )  # fmt: skip
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
