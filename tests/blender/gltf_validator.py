"""Run the Khronos glTF-Validator (npm ``gltf-validator``, pinned in
``tools/gltf-validator``) on a file through node; no bpy, no torch, so both the main
suite and the headless-bpy tests use it.

``make install`` installs the package; when it is missing and npm is present,
:func:`validator` runs ``npm ci`` itself. Without node or npm it returns a reason to skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

VALIDATOR_DIR = Path(__file__).resolve().parents[2] / "tools" / "gltf-validator"


def validator() -> Callable[[Path], dict] | str:
    """A function: path of a .glb / .gltf -> the validator's report (its JSON object);
    or, when node or npm is not installed, the reason the check cannot run. Raises
    RuntimeError when ``npm ci`` fails."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node and npm are not installed, so the Khronos glTF-Validator cannot run"
    if not (VALIDATOR_DIR / "node_modules" / "gltf-validator" / "package.json").is_file():
        proc = subprocess.run(
            [npm, "ci", "--prefix", str(VALIDATOR_DIR), "--no-audit", "--no-fund"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(
                f"npm ci --prefix {VALIDATOR_DIR} failed:\n{proc.stdout}{proc.stderr}"
            )

    def run(path: Path) -> dict:
        proc = subprocess.run([node, str(VALIDATOR_DIR / "validate.js"), str(path)],
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"the glTF-Validator could not read {path}: {proc.stderr}")
        return json.loads(proc.stdout)

    return run


def messages(report: dict, severity: int) -> list[tuple[str, str]]:
    """(code, pointer) of the report's issues of ``severity`` (0 error, 1 warning,
    2 info, 3 hint)."""
    return [(m["code"], m.get("pointer", "")) for m in report["issues"]["messages"]
            if m["severity"] == severity]  # fmt: skip
