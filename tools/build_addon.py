"""Build the installable Blender extension zip: ``dist/humancrafter-<version>.zip``.

The zip holds ``blender_manifest.toml`` and the add-on package at its root, with the
``addon/portable`` symbolic link replaced by real copies of the shared modules, and no
``__pycache__``. Run ``make addon`` (or ``python tools/build_addon.py [--out DIR]``).
"""

from __future__ import annotations

import argparse
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {"__pycache__"}
SKIP_SUFFIXES = {".pyc", ".pyo"}


def addon_files(addon_dir: Path = ROOT / "addon") -> list[tuple[Path, str]]:
    """(file on disk, name in the zip) for every add-on file, links followed."""
    out = []
    stack = [(addon_dir, "")]
    while stack:
        folder, prefix = stack.pop()
        for entry in sorted(folder.iterdir()):
            if entry.name in SKIP_DIRS or entry.name.startswith("."):
                continue
            if entry.is_dir():  # follows the portable link
                stack.append((entry, f"{prefix}{entry.name}/"))
            elif entry.is_file() and entry.suffix not in SKIP_SUFFIXES:
                out.append((entry, prefix + entry.name))
    return sorted(out, key=lambda item: item[1])


def build(out_dir: Path = ROOT / "dist") -> Path:
    """Write the zip and return its path."""
    manifest = ROOT / "blender_manifest.toml"
    version = tomllib.loads(manifest.read_text(encoding="utf-8"))["version"]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"humancrafter-{version}.zip"
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(manifest, "blender_manifest.toml")
        for path, name in addon_files():
            zf.write(path, name)
    tmp.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder")
    path = build(parser.parse_args().out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
