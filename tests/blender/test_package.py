"""Packaging: the manifest validates, the zip is self-contained, install + enable works,
and the add-on never imports torch or the backend package."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("torch", "humancrafter", "requests")


def _validator() -> Path:
    import bpy

    path = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core/bl_pkg/cli/blender_ext.py"
    assert path.is_file(), f"{path} not found inside the bpy wheel"
    return path


def test_manifest_and_zip_validate(addon_zip):
    for target in (addon_zip,):
        proc = subprocess.run(
            [sys.executable, str(_validator()), "validate", str(target)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Success" in proc.stdout


def test_zip_holds_real_copies_and_no_caches(addon_zip):
    with zipfile.ZipFile(addon_zip) as zf:
        names = zf.namelist()
        infos = {i.filename: i for i in zf.infolist()}
        assert "blender_manifest.toml" in names and "__init__.py" in names
        for shared in (
            "parts.py",
            "splatfile.py",
            "config.py",
            "mesh_convert.py",
            "placement.py",
            "__init__.py",
        ):
            name = f"portable/{shared}"
            assert name in names, name
            assert zf.read(name) == (ROOT / "backend/humancrafter/portable" / shared).read_bytes()
            assert (infos[name].external_attr >> 16) & 0o170000 != 0o120000  # not a link
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        assert "network" in zf.read("blender_manifest.toml").decode()


def test_installed_and_enabled(addon):
    import bpy

    assert hasattr(bpy.ops.humancrafter, "reconstruct")
    assert hasattr(bpy.types.Scene, "humancrafter")
    assert "Gaussian Splats" in bpy.ops.humancrafter.import_splats.get_rna_type().name
    assert "torch" not in sys.modules, "enabling the add-on loaded torch"
    assert not [m for m in sys.modules if m == "humancrafter" or m.startswith("humancrafter.")]


def test_disable_and_enable_again(addon):
    import addon_utils
    import bpy

    name = addon.__name__
    addon_utils.disable(name)
    assert not hasattr(bpy.types.Scene, "humancrafter")
    addon_utils.enable(name, default_set=True)
    assert hasattr(bpy.types.Scene, "humancrafter")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant):
                found.append((node.lineno, str(node.args[0].value)))
    return found


def test_addon_never_imports_torch_or_backend():
    files = sorted((ROOT / "addon").rglob("*.py"))
    assert len(files) > 10
    bad = [
        f"{p.relative_to(ROOT)}:{line} imports {mod}"
        for p in files
        for line, mod in _imports(p)
        if mod.split(".")[0] in FORBIDDEN
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", ["torch", "humancrafter.cli", "requests"])
def test_import_checker_catches(tmp_path, module):
    """The checker above must notice each forbidden import form."""
    p = tmp_path / "x.py"
    p.write_text(f"import os\nfrom {module} import x\n")
    assert any(m.split(".")[0] in FORBIDDEN for _, m in _imports(p))
