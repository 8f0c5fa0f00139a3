"""HumanCrafter for Blender: photo -> semantic Gaussian-splat human with parts, rig, export.

Layout: pure modules (no bpy) for conversions and I/O -- :mod:`.axes`, :mod:`.client`,
:mod:`.jobs`, :mod:`.gltf_splat`, ``portable`` (shared with the backend) -- and bpy
modules for data and UI -- :mod:`.importer`, :mod:`.meshdata`, :mod:`.display`,
:mod:`.part_tools`, :mod:`.rigging`, :mod:`.exporter`, :mod:`.props`,
:mod:`.preferences`, :mod:`.operators`, :mod:`.panel`.
"""

from __future__ import annotations

import bpy

from . import operators, panel, preferences, props


def register() -> None:
    bpy.utils.register_class(preferences.HumanCrafterPreferences)
    props.register()
    operators.register()
    panel.register()


def unregister() -> None:
    panel.unregister()
    operators.unregister()
    props.unregister()
    bpy.utils.unregister_class(preferences.HumanCrafterPreferences)
