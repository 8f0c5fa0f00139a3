"""Run a pinned npm package's script on a file through node (the Khronos glTF-Validator in
``tools/gltf-validator``, the SPZ readers in ``tools/spz-reader``); no bpy, no torch, so
both the main suite and the headless-bpy tests use it.

``make install`` installs the packages; when they are missing and npm is present,
:func:`npm_tool` runs ``npm ci`` itself. Without node or npm it returns a reason to skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path


def npm_tool(folder: Path, package: str, script: str, what: str) -> Callable[[Path], dict] | str:
    """A function: path of a file -> the JSON object ``node folder/script path`` prints;
    or, when node or npm is not installed, the reason ``what`` cannot run. ``package`` is
    one of the folder's npm packages, checked to see whether ``npm ci`` is needed. Raises
    RuntimeError when ``npm ci`` or the script fails."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return f"node and npm are not installed, so {what} cannot run"
    if not (folder / "node_modules" / package / "package.json").is_file():
        proc = subprocess.run(
            [npm, "ci", "--prefix", str(folder), "--no-audit", "--no-fund"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"npm ci --prefix {folder} failed:\n{proc.stdout}{proc.stderr}")

    def run(path: Path) -> dict:
        proc = subprocess.run([node, str(folder / script), str(path)],
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"{what} could not read {path}: {proc.stderr}")
        return json.loads(proc.stdout)

    return run
