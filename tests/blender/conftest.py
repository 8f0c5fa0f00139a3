"""Headless-bpy tests of the Blender add-on, each test file in its own Python process.

Why: the ``bpy`` wheel bundles its own native libraries, and torch (used by the rest of
the suite) bundles others; loading both into one process is asking for trouble. So when
the normal test run collects ``tests/blender/test_*.py``, :func:`pytest_pycollect_makemodule`
turns each file into a single item that runs ``python -m pytest <file>`` in a fresh
process with ``HC_BPY_CHILD=1`` (and fails with that run's output). In that child the
file's tests run for real, and nothing in ``tests/blender`` or ``addon/`` imports torch
(``test_package.py`` checks the add-on side).

Each file runs once per Blender version: bpy 5.0.1 of ``.venv`` (this interpreter) and
the versions of ``bpy_versions.txt``, each with the interpreter of its own virtual
environment (``make install`` makes them with ``tools/bpy_venvs.sh``); the items are
named ``test_x.py[bpy-5.3.0]`` (``-k bpy-5.3.0`` picks one version). A version whose
environment could not be made skips with the reason. Children get ``backend/`` on
``PYTHONPATH`` (``humancrafter.portable``) and ``HC_BACKEND_PYTHON``, this interpreter,
for backend work that needs torch.

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


VERSIONS = Path(__file__).with_name("bpy_versions.txt")


def _bpy_version(python: Path) -> str:
    """The bpy version installed for the virtual environment of ``python``."""
    found = sorted(python.parent.parent.glob("lib/python3*/site-packages/bpy-*.dist-info"))
    return found[0].name[len("bpy-") : -len(".dist-info")] if found else "unknown"


def runners() -> list[tuple[str, str | None, str]]:
    """(label, interpreter or None, why it is missing) for each Blender version to test."""
    out = [(f"bpy-{_bpy_version(Path(sys.executable))}", sys.executable, "")]
    for line in VERSIONS.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        folder, _, *packages = line.split()
        label = next((p.replace("==", "-") for p in packages if p.startswith("bpy==")), folder)
        venv = ROOT / folder
        python = venv / "bin" / "python"
        if (venv / ".installed").is_file() and python.is_file():
            out.append((label, str(python), ""))
        elif (venv / "UNAVAILABLE").is_file():
            out.append((label, None, (venv / "UNAVAILABLE").read_text().strip()))
        else:
            out.append((label, None, f"{folder} is not made: run `make install`"))
    return out


_SHARED: list[Path] = []  # parent: the folder below
_SESSION: list[pytest.Session] = []  # child: the session, for its exit status


def _shared_folder() -> Path:
    """A folder the children of this test run share (test_rig_fitted's reconstructions,
    made by the first Blender version and reused by the others)."""
    if not _SHARED:
        _SHARED.append(Path(tempfile.mkdtemp(prefix="hc-bpy-shared-")))
    return _SHARED[0]


class BlenderFile(pytest.File):
    def collect(self):
        for label, python, missing in runners():
            item = BlenderRun.from_parent(self, name=f"{self.path.name}[{label}]")
            item.python, item.missing = python, missing
            yield item


class BlenderRun(pytest.Item):
    """Runs one test file in a separate headless-bpy process, on one Blender version."""

    python: str | None
    missing: str

    def runtest(self) -> None:
        if self.python is None:
            pytest.skip(f"{self.name}: {self.missing}")
        env = dict(os.environ, HC_BPY_CHILD="1")
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "backend"), env.get("PYTHONPATH")])
        )
        env.setdefault("HC_BACKEND_PYTHON", sys.executable)
        env.setdefault("HC_RECONSTRUCTIONS", str(_shared_folder()))
        cmd = [self.python, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
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
            return f"headless-bpy run of {self.name} failed:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"bpy subprocess: {self.name}"


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
        _SESSION.append(session)


def pytest_unconfigure(config):
    for folder in _SHARED:  # parent
        shutil.rmtree(folder, ignore_errors=True)
    # child: bpy 4.2 crashes (SIGSEGV) while Python shuts down once its glTF importer has
    # run, after every test passed; leave before that shutdown, with pytest's status
    bpy = sys.modules.get("bpy")
    if CHILD and bpy is not None and bpy.app.version[:2] == (4, 2) and _SESSION:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(_SESSION[0].exitstatus))


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
