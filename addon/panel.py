"""The sidebar: 3D View › Sidebar › HumanCrafter."""

from __future__ import annotations

import bpy

from . import display, game_mesh, importer

RUNNING = ("checking", "submitting", "queued", "running", "downloading")


class HC_UL_parts(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        swatch = row.row()
        swatch.ui_units_x = 1.2
        swatch.prop(item, "color", text="")
        swatch.enabled = False
        row.label(text=item.name.replace("_", " "))
        row.label(text=f"{item.count:,}")
        row.prop(item, "visible", text="", emboss=False,
                 icon="HIDE_OFF" if item.visible else "HIDE_ON")  # fmt: skip


class _Panel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "HumanCrafter"


class HC_PT_reconstruct(_Panel, bpy.types.Panel):
    bl_label = "Reconstruct"

    def draw(self, context):
        st = context.scene.humancrafter
        layout = self.layout
        col = layout.column()
        col.prop(st, "mode")
        if not st.modes_checked:
            col.label(text="Check the connection to see every mode the backend offers.",
                      icon="INFO")  # fmt: skip
        col.row().prop(st, "source", expand=True)
        if st.source == "FILE":
            col.prop(st, "filepath")
        else:
            col.template_ID(st, "image", open="image.open")
        if st.mode == "multiview":
            box = col.box()
            box.prop(st, "azimuth", text="First view azimuth")
            for i, view in enumerate(st.views):
                row = box.row(align=True)
                row.prop(view, "filepath", text="")
                row.prop(view, "azimuth", text="")
                row.operator("humancrafter.view_remove", text="", icon="X").index = i
            box.operator("humancrafter.view_add", icon="ADD")
        col.prop(st, "target_height")
        col.prop(st, "num_gaussians")
        col.prop(st, "seed")
        running = st.status in RUNNING
        row = col.row(align=True)
        row.scale_y = 1.4
        sub = row.row(align=True)
        sub.enabled = not running
        sub.operator("humancrafter.reconstruct", icon="OUTLINER_OB_POINTCLOUD")
        if running:
            row.operator("humancrafter.cancel", icon="CANCEL")
            label = st.stage or st.status
            col.progress(factor=st.progress, type="BAR", text=f"{label} {st.progress:.0%}")
        if st.message:
            icon = "ERROR" if st.status == "failed" else "INFO"
            for line in _wrap(st.message, 48):
                col.label(text=line, icon=icon)
                icon = "BLANK1"
        box = layout.box()
        row = box.row()
        row.label(text="Backend", icon="CHECKMARK" if st.connection_ok else "ERROR")
        row.operator("humancrafter.check_connection", text="", icon="FILE_REFRESH")
        row.operator("humancrafter.start_backend", text="", icon="PLAY")
        for line in _wrap(st.connection, 48):
            box.label(text=line)


class HC_PT_parts(_Panel, bpy.types.Panel):
    bl_label = "Parts"

    @classmethod
    def poll(cls, context):
        return importer.is_splat_object(context.active_object)

    def draw(self, context):
        obj = context.active_object
        layout = self.layout
        if "part" not in obj.data.attributes:
            layout.label(text="This object has no part labels.", icon="INFO")
            return
        layout.prop(obj, "hc_show_part_colours")
        layout.template_list("HC_UL_parts", "", obj, "hc_parts", obj, "hc_parts_index", rows=6)
        if not (0 <= obj.hc_parts_index < len(obj.hc_parts)):
            return
        part = obj.hc_parts[obj.hc_parts_index].name
        grid = layout.grid_flow(columns=2, align=True)
        grid.operator("humancrafter.part_select", text="Select").part = part
        grid.operator("humancrafter.part_isolate", text="Isolate").part = part
        grid.operator("humancrafter.part_show_all", text="Show All").part = part
        grid.operator("humancrafter.part_separate", text="Separate").part = part
        grid.operator("humancrafter.part_material", text="Material…").part = part
        grid.operator("humancrafter.part_recolour", text="Recolour…").part = part


class HC_PT_rig_export(_Panel, bpy.types.Panel):
    bl_label = "Rig & Export"

    @classmethod
    def poll(cls, context):
        return importer.is_splat_object(context.active_object)

    def draw(self, context):
        layout = self.layout
        col = layout.column(align=True)
        if bpy.ops.humancrafter.create_armature.poll():  # a skeleton or part labels
            col.operator("humancrafter.create_armature", icon="ARMATURE_DATA")
        col.operator("humancrafter.convert_mesh", icon="MESH_DATA")
        col.separator()
        col.operator("humancrafter.export_ply", text="PLY", icon="EXPORT")
        if "part" in context.active_object.data.attributes:
            col.operator("humancrafter.export_parts", text="PLY per part", icon="EXPORT")
        col.operator("humancrafter.export_gltf", text="glTF / GLB", icon="EXPORT")
        col.operator("humancrafter.export_spz", text="SPZ (via backend)", icon="EXPORT")
        mod = context.active_object.modifiers.get("HumanCrafter Display")
        if mod is not None and mod.node_group is not None:
            box = layout.box()
            box.label(text="Display")
            for item in mod.node_group.interface.items_tree:
                if (
                    item.item_type == "SOCKET"
                    and item.in_out == "INPUT"
                    and item.socket_type != "NodeSocketGeometry"
                ):
                    box.prop(*display.input_prop(mod, item.identifier), text=item.name)


class HC_PT_game_mesh(_Panel, bpy.types.Panel):
    bl_label = "Game Character"

    @classmethod
    def poll(cls, context):
        return game_mesh.is_game_mesh(context.active_object)

    def draw(self, context):
        obj = context.active_object
        col = self.layout.column(align=True)
        col.label(text=f"From '{obj[game_mesh.MESH_OF]}'", icon="MESH_DATA")
        rig = obj.parent.name if obj.parent is not None else "not rigged"
        col.label(text=f"Armature: {rig}", icon="ARMATURE_DATA")
        col.separator()
        col.operator(
            "humancrafter.export_game", text="GLB", icon="EXPORT"
        ).filepath = "character.glb"
        col.operator(
            "humancrafter.export_game", text="FBX", icon="EXPORT"
        ).filepath = "character.fbx"


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return lines + ([line] if line else [])


CLASSES = (HC_UL_parts, HC_PT_reconstruct, HC_PT_parts, HC_PT_rig_export, HC_PT_game_mesh)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
