"""Headless-bpy tests of the Blender add-on, each test file in its own Python process.

Why: the ``bpy`` wheel bundles its own native libraries, and torch (used by the rest of
the suite) bundles others; loading both into one process is asking for trouble. So when
the normal test run collects ``tests/blender/test_*.py``, :func:`pytest_pycollect_makemodule`
turns each file into a single item that runs ``python -m pytest <file>`` in a fresh
process with ``HC_BPY_CHILD=1`` (and fails with that run's output). In that child the
file's tests run for real, and nothing in ``tests/blender`` or ``addon/`` imports torch
(``test_package.py`` checks the add-on side).

The child gets temporary Blender user folders (``BLENDER_USER_RESOURCES``) and a
temporary ``HUMANCRAFTER_CONFIG_DIR``, set before ``bpy`` is imported; the session
fixture :func:`addon` builds the zip with ``tools/build_addon.py``, installs it with
``bpy.ops.extensions.package_install_files`` and enables it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "samples"
CHILD = os.environ.get("HC_BPY_CHILD") == "1"
ADDON_MODULE = "bl_ext.user_default.humancrafter"


# ----------------------------------------------------------------------------- parent side


class BlenderFile(pytest.File):
    def collect(self):
        yield BlenderRun.from_parent(self, name=self.path.name)


class BlenderRun(pytest.Item):
    """Runs one test file in a separate headless-bpy process."""

    def runtest(self) -> None:
        env = dict(os.environ, HC_BPY_CHILD="1")
        cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
               str(self.path)]  # fmt: skip
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        self.output = proc.stdout + proc.stderr
        if proc.returncode == 5:  # nothing collected
            raise BlenderFailure(f"no tests ran in {self.path.name}\n{self.output}")
        if proc.returncode != 0:
            raise BlenderFailure(self.output)
        summary = [ln for ln in self.output.splitlines() if ln.startswith("SKIPPED")]
        for line in summary:
            self.add_report_section("call", "skipped", line)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, BlenderFailure):
            return f"headless-bpy run of {self.path.name} failed:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"bpy subprocess: {self.path.name}"


class BlenderFailure(Exception):
    pass


def pytest_pycollect_makemodule(module_path, parent):
    if CHILD or not module_path.name.startswith("test_"):
        return None
    return BlenderFile.from_parent(parent, path=module_path)


# ----------------------------------------------------------------------------- child side

if CHILD:
    _TMP = Path(tempfile.mkdtemp(prefix="hc-bpy-"))
    os.environ["BLENDER_USER_RESOURCES"] = str(_TMP / "blender")
    os.environ["HUMANCRAFTER_CONFIG_DIR"] = str(_TMP / "config")
    sys.path.insert(0, str(Path(__file__).parent))  # synth_body

    def pytest_sessionfinish(session, exitstatus):
        shutil.rmtree(_TMP, ignore_errors=True)
        if "torch" in sys.modules:  # bpy and torch must never share this process
            print("ERROR: torch was imported into the headless-bpy test process")
            session.exitstatus = 1


@pytest.fixture(scope="session")
def tmp_root() -> Path:
    return _TMP


@pytest.fixture(scope="session")
def addon_zip(tmp_root) -> Path:
    sys.path.insert(0, str(ROOT / "tools"))
    import build_addon

    return build_addon.build(tmp_root / "dist")


@pytest.fixture(scope="session")
def addon(addon_zip):
    """The installed and enabled add-on package (``bl_ext.user_default.humancrafter``)."""
    import importlib

    import bpy

    result = bpy.ops.extensions.package_install_files(
        filepath=str(addon_zip), repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"}, result
    assert ADDON_MODULE in bpy.context.preferences.addons, "the add-on did not enable"
    return importlib.import_module(ADDON_MODULE)


@pytest.fixture
def scene(addon):
    """An empty scene (objects, meshes, materials and node groups removed)."""
    import bpy

    for coll in (bpy.data.objects, bpy.data.meshes, bpy.data.armatures, bpy.data.materials,
                 bpy.data.node_groups, bpy.data.cameras, bpy.data.images):  # fmt: skip
        for item in list(coll):
            coll.remove(item)
    sc = bpy.context.scene
    for key in list(sc.keys()):
        if key.startswith("hc_"):
            del sc[key]
    return sc


@pytest.fixture
def samples() -> list[Path]:
    if not SAMPLES.is_dir():
        pytest.skip(f"shared samples folder {SAMPLES} is absent")
    files = sorted(SAMPLES.glob("*.ply"))
    if not files:
        pytest.skip(f"no .ply samples in {SAMPLES}")
    return files
