"""Operators: import/export, reconstruct (asynchronous), backend, part tools, rigging.

Network work runs on worker threads (:mod:`.jobs`); the main thread polls them with
``bpy.app.timers`` (:func:`poll_tasks`), which is also what tests call directly, since
timers do not fire in headless ``bpy``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import display, exporter, game_mesh, importer, part_tools, props, rigging
from .client import BackendError, is_local
from .jobs import HealthCheck, LocalBackend, ReconstructTask
from .portable import splatfile
from .portable.parts import PART_NAMES
from .preferences import make_client, preferences

# Work in flight; only the main thread reads or replaces these.
TASKS: dict[str, object] = {}
POLL_S = 0.2
# What notify() last told the user, newest last (the status bar shows the same).
NOTICES: list[tuple[str, str]] = []


def notify(message: str, level: str = "INFO") -> None:
    """Show ``message`` in Blender's status bar and Info log (through a report of
    ``humancrafter.notify``), so results and failures are seen with the sidebar closed."""
    NOTICES.append((level, message))
    del NOTICES[:-20]
    try:
        bpy.ops.humancrafter.notify(message=message, level=level)
    except RuntimeError:  # the report itself raises for ERROR: it has been shown
        pass


def _settings(context) -> bpy.types.PropertyGroup:
    return context.scene.humancrafter


def _splat_object(context) -> bpy.types.Object | None:
    obj = context.active_object
    return obj if importer.is_splat_object(obj) else None


def _redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for window in getattr(wm, "windows", []):
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "PREFERENCES"):
                area.tag_redraw()


# ----------------------------------------------------------------------------- polling


def poll_tasks() -> float | None:
    """Main-thread step for every task in flight: copy its state into the scene and act
    on completion (import the result). Returns the next delay, or None when idle."""
    scene = bpy.context.scene
    st = scene.humancrafter
    job = TASKS.get("job")
    if isinstance(job, ReconstructTask):
        snap = job.snapshot()
        st.status, st.stage, st.progress = snap.status, snap.stage, snap.progress
        st.message = snap.message
        if snap.finished:
            del TASKS["job"]
            if job.health is not None:
                props.set_available_modes(st, job.health)
            if snap.status == "done":
                _import_result(scene, snap.result, snap.warnings)
            elif snap.error_kind:
                st.connection_ok = snap.error_kind not in ("down", "auth", "offline", "mode")
                if not st.connection_ok:
                    st.connection = snap.message
            level = {"done": "INFO", "cancelled": "WARNING"}.get(st.status, "ERROR")
            notify(f"HumanCrafter: {st.message}", level)
    check = TASKS.get("health")
    if isinstance(check, HealthCheck) and check.ok is not None:
        del TASKS["health"]
        if check.health is not None:
            props.set_available_modes(st, check.health)
        st.connection, st.connection_ok = check.line, bool(check.ok)
        notify(f"HumanCrafter: {check.line}", "INFO" if check.ok else "WARNING")
    backend = TASKS.get("backend")
    if isinstance(backend, LocalBackend) and backend.ok is not None:
        del TASKS["backend"]
        if backend.health is not None:
            props.set_available_modes(st, backend.health)
        st.connection, st.connection_ok = backend.line, bool(backend.ok)
        notify(f"HumanCrafter: {backend.line}", "INFO" if backend.ok else "ERROR")
    spz = TASKS.get("spz")
    if isinstance(spz, _Call) and spz.finished:
        del TASKS["spz"]
        st.message = spz.message
        notify(f"HumanCrafter: {spz.message}", "ERROR" if spz.failed else "INFO")
    _redraw()
    return POLL_S if TASKS else None


def _ensure_polling() -> None:
    if not bpy.app.timers.is_registered(poll_tasks):
        bpy.app.timers.register(poll_tasks, first_interval=POLL_S)


def present_import(obj: bpy.types.Object, report: importer.ImportReport, scene) -> None:
    """What follows :func:`importer.create_object` in both import paths: the display node
    set-up, the scene's part materials (named in ``report``) and the sidebar's part list.

    The display is built once: with the scene's part materials when the scene has any
    and the object has part labels, else plain (reading the labels of a large object
    only to find no material for them costs a noticeable part of the import)."""
    applied = []
    if report.labelled and part_tools.scene_materials(scene):
        applied = part_tools.apply_scene_materials(obj, scene)  # builds the display too
    else:
        display.ensure_display(obj)
    display.configure_scene(scene)
    display.sync_camera(scene)
    display.show_colours_in_solid_views()
    if applied:
        report.notes.append(f"part materials applied to {', '.join(applied)}")
    if report.labelled:
        part_tools.refresh_part_list(obj)


def _import_result(scene, data: bytes, warnings: list[str]) -> None:
    st = scene.humancrafter
    try:
        splats = splatfile.loads(data)
    except splatfile.SplatFileError as e:
        st.status, st.message = "failed", f"The backend's result is not a valid splat file: {e}"
        return
    obj, report = importer.create_object(splats, "HumanCrafter", st.target_height, scene.collection)
    present_import(obj, report, scene)
    for o in scene.objects:
        o.select_set(o == obj)
    bpy.context.view_layer.objects.active = obj
    st.message = report.message(obj.name) + (
        f" Warnings: {'; '.join(warnings)}" if warnings else ""
    )


class _Call:
    """A function run on a worker thread; ``message`` is its result or error sentence."""

    def __init__(self, fn, done_text: str):
        self.finished, self.message, self.failed = False, "", False
        self._fn, self._done = fn, done_text
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._fn()
            self.message = self._done
        except BackendError as e:
            self.message, self.failed = str(e), True
        except OSError as e:
            self.message, self.failed = _write_error(e), True
        self.finished = True


class HC_OT_notify(bpy.types.Operator):
    """Report a message (status bar and Info log); used by the background tasks"""

    bl_idname = "humancrafter.notify"
    bl_label = "HumanCrafter Message"
    bl_options = {"INTERNAL"}
    message: bpy.props.StringProperty()
    level: bpy.props.EnumProperty(items=[(k, k.title(), "") for k in ("INFO", "WARNING", "ERROR")])

    def execute(self, context):
        self.report({self.level}, self.message)
        return {"FINISHED"}


def _write_error(e: OSError) -> str:
    """One sentence for a failed write (no traceback)."""
    where = e.filename or "the file"
    if isinstance(e, PermissionError):
        return f"Cannot write {where}: permission denied; choose a folder you can write to."
    if isinstance(e, IsADirectoryError):
        return f"Cannot write {where}: it is a folder; give a file name."
    if isinstance(e, FileNotFoundError):
        return f"Cannot write {where}: its folder does not exist."
    return f"Cannot write {where}: {e.strerror or e}."


# ----------------------------------------------------------------------------- backend


def _read_image(path: str) -> tuple[str, bytes]:
    p = Path(bpy.path.abspath(path))
    if not path or not p.is_file():
        raise ValueError(f"the photo '{path or '(none)'}' is not a file")
    return p.name, p.read_bytes()


def _image_bytes(image: bpy.types.Image) -> tuple[str, bytes]:
    if image.packed_file is not None:
        return image.name + ".png", bytes(image.packed_file.data)
    if image.filepath:
        return _read_image(image.filepath)
    raise ValueError(f"image '{image.name}' has no file; save or pack it first")


def collect_images(st) -> tuple[list[tuple[str, bytes]], list[float] | None]:
    """(images, azimuths or None) from the panel settings; main thread."""
    if st.source == "IMAGE":
        if st.image is None:
            raise ValueError("choose an image loaded in Blender, or switch to a photo file")
        images = [_image_bytes(st.image)]
    else:
        images = [_read_image(st.filepath)]
    if props.current_mode(st) != "multiview":
        return images, None
    if not 1 <= len(st.views) <= 3:
        raise ValueError("multi-view needs 2 to 4 views: add 1 to 3 more views with their azimuths")
    images += [_read_image(v.filepath) for v in st.views]
    return images, [st.azimuth] + [v.azimuth for v in st.views]


class HC_OT_reconstruct(bpy.types.Operator):
    """Send the photo to the backend and import the result (runs in the background)"""

    bl_idname = "humancrafter.reconstruct"
    bl_label = "Reconstruct"

    def execute(self, context):
        st = _settings(context)
        if "job" in TASKS:
            self.report({"ERROR"}, "A reconstruction is already running; cancel it first.")
            return {"CANCELLED"}
        try:
            client = make_client(context)
            images, azimuths = collect_images(st)
        except ValueError as e:
            st.status, st.message = "failed", str(e)[0].upper() + str(e)[1:] + "."
            self.report({"ERROR"}, st.message)
            return {"CANCELLED"}
        options = {"mode": props.current_mode(st), "azimuths_deg": azimuths,
                   "num_gaussians": st.num_gaussians, "seed": st.seed}  # fmt: skip
        TASKS["job"] = ReconstructTask(client, images, options).start()
        st.status, st.stage, st.progress, st.message = (
            "checking",
            "",
            0.0,
            "Contacting the backend…",
        )
        _ensure_polling()
        return {"FINISHED"}


class HC_OT_cancel(bpy.types.Operator):
    """Cancel the running reconstruction"""

    bl_idname = "humancrafter.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        job = TASKS.get("job")
        if job is None:
            self.report({"INFO"}, "Nothing is running.")
            return {"CANCELLED"}
        job.cancel()
        _settings(context).message = "Cancelling…"
        return {"FINISHED"}


class HC_OT_check_connection(bpy.types.Operator):
    """Ask the backend whether it is up, accepts the token and can run the chosen mode"""

    bl_idname = "humancrafter.check_connection"
    bl_label = "Check Connection"

    def execute(self, context):
        st = _settings(context)
        try:
            client = make_client(context)
        except ValueError as e:
            st.connection, st.connection_ok = str(e), False
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        TASKS["health"] = HealthCheck(client, props.current_mode(st)).start()
        st.connection = "Checking the connection…"
        _ensure_polling()
        return {"FINISHED"}


class HC_OT_start_backend(bpy.types.Operator):
    """Start the local backend command from the preferences and wait until it answers"""

    bl_idname = "humancrafter.start_backend"
    bl_label = "Start Local Backend"

    def execute(self, context):
        prefs = preferences(context)
        st = _settings(context)
        try:
            client = make_client(context)
            if not client.base_url.startswith("http://") or not is_local(client.base_url):
                raise ValueError(
                    "the backend URL is not on this computer, so it cannot be started here"
                )
            TASKS["backend"] = LocalBackend(prefs.start_command, client, prefs.start_wait_s).start()
        except ValueError as e:
            st.connection, st.connection_ok = str(e), False
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        st.connection = TASKS["backend"].line
        _ensure_polling()
        return {"FINISHED"}


class HC_OT_view_add(bpy.types.Operator):
    """Add a view for multi-view reconstruction"""

    bl_idname = "humancrafter.view_add"
    bl_label = "Add View"

    def execute(self, context):
        st = _settings(context)
        if len(st.views) >= 3:
            self.report({"ERROR"}, "At most 4 views in all.")
            return {"CANCELLED"}
        view = st.views.add()
        view.azimuth = (st.azimuth + 90.0 * len(st.views)) % 360.0
        return {"FINISHED"}


class HC_OT_view_remove(bpy.types.Operator):
    """Remove this view"""

    bl_idname = "humancrafter.view_remove"
    bl_label = "Remove View"
    index: bpy.props.IntProperty()

    def execute(self, context):
        _settings(context).views.remove(self.index)
        return {"FINISHED"}


# ----------------------------------------------------------------------------- files


class HC_OT_import_splats(bpy.types.Operator, ImportHelper):
    """Import a Gaussian-splat PLY (HumanCrafter semantic, Inria 3DGS or LGM layout)"""

    bl_idname = "humancrafter.import_splats"
    bl_label = "Import Gaussian Splats"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".ply"
    filter_glob: bpy.props.StringProperty(default="*.ply", options={"HIDDEN"})
    target_height: bpy.props.FloatProperty(
        name="Height", description="Height of the person in the scene",
        default=1.75, min=0.01, max=1000.0, unit="LENGTH",
    )  # fmt: skip

    def execute(self, context):
        try:
            splats = splatfile.load(self.filepath)
        except splatfile.SplatFileError as e:
            self.report({"ERROR"}, f"Cannot import {Path(self.filepath).name}: {e}")
            return {"CANCELLED"}
        obj, report = importer.create_object(
            splats, bpy.path.display_name_from_filepath(self.filepath), self.target_height
        )
        present_import(obj, report, context.scene)
        for o in context.view_layer.objects:
            o.select_set(o == obj)
        context.view_layer.objects.active = obj
        self.report({"INFO"} if report.labelled else {"WARNING"}, report.message(obj.name))
        return {"FINISHED"}


class _FileTarget(ExportHelper):
    def target(self) -> Path | None:
        """The file to write, or None after reporting why it cannot be written (a folder
        was given, or the folder is missing / read-only) - before anything is written."""
        path = Path(bpy.path.abspath(self.filepath))
        problem = None
        if not self.filepath or path.is_dir() or self.filepath.endswith(("/", "\\")):
            problem = f"'{self.filepath}' is a folder; give a file name ending in "
            problem += f"{self.filename_ext or '.ply'}."
        elif not path.parent.is_dir():
            problem = f"Cannot write {path}: the folder {path.parent} does not exist."
        elif not os.access(path.parent, os.W_OK):
            problem = f"Cannot write {path}: permission denied; choose a folder you can write to."
        if problem:
            self.report({"ERROR"}, problem)
            return None
        return path

    def write(self, fn, path: Path) -> int | None:
        """``fn(path)`` -> number written, or None after reporting a write error; never
        leaves a partial ``.part`` file behind."""
        try:
            return fn(path)
        except OSError as e:
            self.report({"ERROR"}, _write_error(e))
            return None
        finally:
            stray = path.with_name(path.name + ".part")
            if stray.exists():
                stray.unlink()


class _ExportBase(_FileTarget):
    posed: bpy.props.BoolProperty(
        name="Posed", description="Write the points where the armature has moved them"
    )

    @classmethod
    def poll(cls, context):
        return _splat_object(context) is not None


class HC_OT_export_ply(bpy.types.Operator, _ExportBase):
    """Export the active splat object as a 3DGS PLY (with part labels)"""

    bl_idname = "humancrafter.export_ply"
    bl_label = "Export Gaussian Splats (.ply)"
    filename_ext = ".ply"
    filter_glob: bpy.props.StringProperty(default="*.ply", options={"HIDDEN"})

    def execute(self, context):
        path = self.target()
        n = None if path is None else self.write(
            lambda p: exporter.export_ply(_splat_object(context), p, self.posed), path
        )  # fmt: skip
        if n is None:
            return {"CANCELLED"}
        self.report({"INFO"}, f"Wrote {n:,} splats to {path}.")
        return {"FINISHED"}


class HC_OT_export_parts(bpy.types.Operator, _ExportBase):
    """Export one PLY per body part into a folder"""

    bl_idname = "humancrafter.export_parts"
    bl_label = "Export Splat Parts (.ply per part)"
    filename_ext = ""
    use_filter_folder = True

    @classmethod
    def poll(cls, context):
        obj = _splat_object(context)
        return obj is not None and "part" in obj.data.attributes

    def execute(self, context):
        folder = Path(bpy.path.abspath(self.filepath))
        folder = folder if folder.is_dir() or not folder.suffix else folder.parent
        try:
            paths = exporter.export_parts(_splat_object(context), folder, self.posed)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        except OSError as e:
            self.report({"ERROR"}, _write_error(e))
            for stray in folder.glob("*.ply.part") if folder.is_dir() else []:
                stray.unlink()
            return {"CANCELLED"}
        self.report({"INFO"}, f"Wrote {len(paths)} part files to {folder}.")
        return {"FINISHED"}


class HC_OT_export_gltf(bpy.types.Operator, _ExportBase):
    """Export the active splat object as glTF with KHR_gaussian_splatting"""

    bl_idname = "humancrafter.export_gltf"
    bl_label = "Export Gaussian Splats (.glb/.gltf)"
    filename_ext = ".glb"
    filter_glob: bpy.props.StringProperty(default="*.glb;*.gltf", options={"HIDDEN"})

    def check(self, context):
        return False  # keep .gltf when the user types it

    def execute(self, context):
        path = self.target()
        n = None if path is None else self.write(
            lambda p: exporter.export_gltf(_splat_object(context), p, self.posed), path
        )  # fmt: skip
        if n is None:
            return {"CANCELLED"}
        self.report({"INFO"}, f"Wrote {n:,} splats to {path}.")
        return {"FINISHED"}


class HC_OT_export_spz(bpy.types.Operator, _ExportBase):
    """Export as SPZ, converted by the HumanCrafter backend (runs in the background)"""

    bl_idname = "humancrafter.export_spz"
    bl_label = "Export Gaussian Splats (.spz)"
    filename_ext = ".spz"
    filter_glob: bpy.props.StringProperty(default="*.spz", options={"HIDDEN"})

    def execute(self, context):
        path = self.target()
        if path is None:
            return {"CANCELLED"}
        try:
            client = make_client(context)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        ply = splatfile.dumps(exporter.splats_for_export(_splat_object(context), self.posed))

        def convert() -> None:
            path.write_bytes(client.convert_spz(ply))

        TASKS["spz"] = _Call(convert, f"Wrote {path}.")
        _settings(context).message = "Converting to SPZ on the backend…"
        _ensure_polling()
        return {"FINISHED"}


# ----------------------------------------------------------------------------- parts


class _PartOp:
    part: bpy.props.EnumProperty(
        name="Part", items=[(n, n.replace("_", " "), "") for n in PART_NAMES]
    )

    @classmethod
    def poll(cls, context):
        obj = _splat_object(context)
        return obj is not None and "part" in obj.data.attributes

    def pid(self) -> int:
        return PART_NAMES.index(self.part)


class HC_OT_part_select(bpy.types.Operator, _PartOp):
    """Select the points of this part (for edit mode)"""

    bl_idname = "humancrafter.part_select"
    bl_label = "Select Part"
    bl_options = {"REGISTER", "UNDO"}
    extend: bpy.props.BoolProperty(name="Extend")

    def execute(self, context):
        obj = _splat_object(context)
        was_edit = obj.mode == "EDIT"
        if was_edit:
            bpy.ops.object.mode_set(mode="OBJECT")
        n = part_tools.select(obj, self.pid(), self.extend)
        if was_edit:
            bpy.ops.object.mode_set(mode="EDIT")
        self.report({"INFO"}, f"Selected {n:,} points of {self.part}.")
        return {"FINISHED"}


class HC_OT_part_isolate(bpy.types.Operator, _PartOp):
    """Show only this part"""

    bl_idname = "humancrafter.part_isolate"
    bl_label = "Isolate Part"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        part_tools.isolate(_splat_object(context), self.pid())
        return {"FINISHED"}


class HC_OT_part_show_all(bpy.types.Operator, _PartOp):
    """Show every part again"""

    bl_idname = "humancrafter.part_show_all"
    bl_label = "Show All Parts"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        part_tools.show_all(_splat_object(context))
        return {"FINISHED"}


class HC_OT_part_separate(bpy.types.Operator, _PartOp):
    """Move this part's points into their own splat object"""

    bl_idname = "humancrafter.part_separate"
    bl_label = "Separate Part"
    bl_options = {"REGISTER", "UNDO"}
    keep: bpy.props.BoolProperty(name="Keep in original", description="Copy instead of move")

    def execute(self, context):
        obj = _splat_object(context)
        try:
            new = part_tools.separate(obj, self.pid(), self.keep)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        context.view_layer.update()  # so the view layer knows the new object
        for o in context.view_layer.objects:  # the new object is the one to work on
            o.select_set(False)
        new.select_set(True)
        context.view_layer.objects.active = new
        for o in (obj, new):
            part_tools.refresh_part_list(o)
            o.hc_parts_index = min(o.hc_parts_index, max(len(o.hc_parts) - 1, 0))
        self.report({"INFO"}, f"Separated {len(new.data.vertices):,} points into '{new.name}'.")
        return {"FINISHED"}


class HC_OT_part_material(bpy.types.Operator, _PartOp):
    """Give this part a material in every splat object of the scene, now and on later imports"""

    bl_idname = "humancrafter.part_material"
    bl_label = "Assign Material to Part"
    bl_options = {"REGISTER", "UNDO"}
    material: bpy.props.StringProperty(
        name="Material", description="Empty removes the part's material"
    )

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self)

    def draw(self, context):
        self.layout.prop_search(self, "material", bpy.data, "materials")

    def execute(self, context):
        mat = bpy.data.materials.get(self.material) if self.material else None
        if self.material and mat is None:
            self.report({"ERROR"}, f"There is no material named '{self.material}'.")
            return {"CANCELLED"}
        updated = part_tools.assign_material(context.scene, self.part, mat)
        what = f"'{mat.name}'" if mat else "no material"
        self.report({"INFO"}, f"{self.part} now has {what} in {len(updated)} object(s).")
        return {"FINISHED"}


class HC_OT_part_recolour(bpy.types.Operator, _PartOp):
    """Recolour this part, keeping its shading"""

    bl_idname = "humancrafter.part_recolour"
    bl_label = "Recolour Part"
    bl_options = {"REGISTER", "UNDO"}
    colour: bpy.props.FloatVectorProperty(
        name="Colour", subtype="COLOR", size=3, min=0.0, max=1.0, default=(0.8, 0.1, 0.1)
    )

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context):
        n = part_tools.recolour(_splat_object(context), self.pid(), tuple(self.colour))
        self.report({"INFO"}, f"Recoloured {n:,} points of {self.part}.")
        return {"FINISHED"}


class HC_OT_create_armature(bpy.types.Operator):
    """Create an armature from the file's fitted skeleton (or, without one, from the part
    labels) and bind the splats to it"""

    bl_idname = "humancrafter.create_armature"
    bl_label = "Create Armature"
    bl_options = {"REGISTER", "UNDO"}
    smooth: bpy.props.FloatProperty(
        name="Weight smoothing", default=0.03, min=0.0, max=1.0, unit="LENGTH",
        description="Rigs from part labels only: blend weights across joints within this "
        "radius (0 = hard part weights); a fitted skeleton brings its own smooth weights",
    )  # fmt: skip

    @classmethod
    def poll(cls, context):
        obj = _splat_object(context)
        return obj is not None and ("part" in obj.data.attributes or rigging.has_skin(obj))

    def execute(self, context):
        obj = _splat_object(context)
        if obj.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        try:
            arm, skipped = rigging.create_armature(obj, self.smooth)
        except ValueError as e:
            self.report({"ERROR"}, str(e)[0].upper() + str(e)[1:] + ".")
            return {"CANCELLED"}
        text = f"Created '{arm.name}' with {len(arm.data.bones)} bones"
        if skipped:
            text += f"; not placed (parts missing): {', '.join(skipped)}"
        self.report({"WARNING"} if skipped else {"INFO"}, text + ".")
        return {"FINISHED"}


class HC_OT_convert_mesh(bpy.types.Operator):
    """Make a closed, vertex-coloured triangle mesh of the splats, with the part groups and,
    when rigged, the bone weights, parented to the armature"""

    bl_idname = "humancrafter.convert_mesh"
    bl_label = "Convert to Mesh"
    bl_options = {"REGISTER", "UNDO"}
    voxel: bpy.props.FloatProperty(
        name="Voxel size", default=0.015, min=0.003, max=0.2, unit="LENGTH",
        description="Grid spacing of the surface (smaller: more detail, more vertices)",
    )  # fmt: skip
    smooth: bpy.props.IntProperty(
        name="Smoothing", default=10, min=0, max=100,
        description="Smoothing steps of the surface (they do not shrink it)",
    )  # fmt: skip

    @classmethod
    def poll(cls, context):
        return _splat_object(context) is not None

    def execute(self, context):
        obj = _splat_object(context)
        if obj.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        try:
            new, report = game_mesh.convert(obj, self.voxel, self.smooth)
        except ValueError as e:
            self.report({"ERROR"}, f"Cannot convert '{obj.name}': {e}.")
            return {"CANCELLED"}
        for o in context.view_layer.objects:
            o.select_set(o == new)
        context.view_layer.objects.active = new
        self.report({"INFO"} if report.closed else {"WARNING"}, report.message(new.name))
        return {"FINISHED"}


class HC_OT_export_game(bpy.types.Operator, _FileTarget):
    """Export the converted mesh and its armature for game engines (GLB or FBX)"""

    bl_idname = "humancrafter.export_game"
    bl_label = "Export Game Character (.glb/.fbx)"
    filename_ext = ".glb"
    filter_glob: bpy.props.StringProperty(default="*.glb;*.fbx", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return game_mesh.is_game_mesh(context.active_object)

    def check(self, context):
        return False  # keep .fbx when the user types it

    def execute(self, context):
        path = self.target()
        if path is None:
            return {"CANCELLED"}
        if path.suffix.lower() not in game_mesh.FORMATS:
            self.report({"ERROR"}, f"'{path.name}' does not end in .glb or .fbx; choose one.")
            return {"CANCELLED"}
        obj = context.active_object
        try:
            fmt = game_mesh.export(obj, path)
        except OSError as e:
            self.report({"ERROR"}, _write_error(e))
            return {"CANCELLED"}
        except RuntimeError as e:  # the exporter's own failure, already one line
            self.report({"ERROR"}, f"Blender's exporter failed: {str(e).strip().splitlines()[-1]}")
            return {"CANCELLED"}
        rig = obj.parent.name if obj.parent is not None else "no armature"
        self.report({"INFO"}, f"Wrote {fmt} of '{obj.name}' ({rig}) to {path}.")
        return {"FINISHED"}


class HC_OT_refresh_display(bpy.types.Operator):
    """Rebuild the splat display and the part list of the active object"""

    bl_idname = "humancrafter.refresh_display"
    bl_label = "Refresh Display"

    @classmethod
    def poll(cls, context):
        return _splat_object(context) is not None

    def execute(self, context):
        obj = _splat_object(context)
        part_tools.apply_scene_materials(obj, context.scene)
        display.set_part_colours(obj, obj.hc_show_part_colours)
        part_tools.refresh_part_list(obj)
        return {"FINISHED"}


def menu_import(self, context):
    self.layout.operator(HC_OT_import_splats.bl_idname, text="Gaussian Splats (.ply)")


def menu_export(self, context):
    self.layout.operator(HC_OT_export_ply.bl_idname, text="Gaussian Splats (.ply)")
    self.layout.operator(HC_OT_export_parts.bl_idname, text="Gaussian Splat Parts (.ply per part)")
    self.layout.operator(HC_OT_export_gltf.bl_idname, text="Gaussian Splats (.glb/.gltf)")
    self.layout.operator(HC_OT_export_spz.bl_idname, text="Gaussian Splats (.spz)")
    self.layout.operator(
        HC_OT_export_game.bl_idname, text="HumanCrafter Game Character (.glb/.fbx)"
    )


CLASSES = (
    HC_OT_notify, HC_OT_reconstruct, HC_OT_cancel, HC_OT_check_connection, HC_OT_start_backend,
    HC_OT_view_add, HC_OT_view_remove, HC_OT_import_splats, HC_OT_export_ply,
    HC_OT_export_parts, HC_OT_export_gltf, HC_OT_export_spz, HC_OT_part_select,
    HC_OT_part_isolate, HC_OT_part_show_all, HC_OT_part_separate, HC_OT_part_material,
    HC_OT_part_recolour, HC_OT_create_armature, HC_OT_convert_mesh, HC_OT_export_game,
    HC_OT_refresh_display,
)  # fmt: skip


# the display's pose rotations follow the armature (rigging.pose_changed)
POSE_HANDLERS = (bpy.app.handlers.depsgraph_update_post, bpy.app.handlers.frame_change_post)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_file_import.append(menu_import)
    bpy.types.TOPBAR_MT_file_export.append(menu_export)
    if display._render_pre not in bpy.app.handlers.render_pre:
        bpy.app.handlers.render_pre.append(display._render_pre)
    for handlers in POSE_HANDLERS:
        if rigging.pose_changed not in handlers:
            handlers.append(rigging.pose_changed)


def unregister() -> None:
    for handler in list(bpy.app.handlers.render_pre):
        if getattr(handler, "__name__", "") == "_render_pre" and handler is display._render_pre:
            bpy.app.handlers.render_pre.remove(handler)
    for handlers in POSE_HANDLERS:
        if rigging.pose_changed in handlers:
            handlers.remove(rigging.pose_changed)
    bpy.types.TOPBAR_MT_file_export.remove(menu_export)
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    for task in TASKS.values():
        if isinstance(task, ReconstructTask):
            task.cancel()
    TASKS.clear()
    if bpy.app.timers.is_registered(poll_tasks):
        bpy.app.timers.unregister(poll_tasks)
