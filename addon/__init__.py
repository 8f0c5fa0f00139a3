"""HumanCrafter for Blender: photo -> semantic Gaussian-splat human with parts, rig, export.

Layout: pure modules (no bpy, testable without Blender) for conversions, planning and
I/O -- :mod:`.axes` (frames), :mod:`.colour` (sRGB, display colours, recolouring),
:mod:`.bones` (bones and weights from part labels), :mod:`.client` (HTTP), :mod:`.jobs`
(worker threads), :mod:`.gltf_splat`, ``portable`` (shared with the backend: parts, the
splat file, ``mesh_convert`` splats -> closed mesh) -- and bpy modules for data and UI --
:mod:`.meshdata`, :mod:`.importer`, :mod:`.display`, :mod:`.part_tools`,
:mod:`.rigging`, :mod:`.exporter`, :mod:`.game_mesh`, :mod:`.props`,
:mod:`.preferences`, :mod:`.operators` (which runs an import, then its display steps),
:mod:`.panel`. No module imports one that imports it back, and the pure modules import
without bpy; ``tests/test_imports.py`` checks both.
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
