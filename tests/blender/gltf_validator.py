"""Run the Khronos glTF-Validator (npm ``gltf-validator``, pinned in
``tools/gltf-validator``) on a file through node; no bpy, no torch, so both the main
suite and the headless-bpy tests use it.

``make install`` installs the package; when it is missing and npm is present,
:func:`validator` runs ``npm ci`` itself. Without node or npm it returns a reason to skip.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from npm_tool import npm_tool

VALIDATOR_DIR = Path(__file__).resolve().parents[2] / "tools" / "gltf-validator"


def validator() -> Callable[[Path], dict] | str:
    """A function: path of a .glb / .gltf -> the validator's report (its JSON object);
    or, when node or npm is not installed, the reason the check cannot run
    (:func:`npm_tool.npm_tool`)."""
    return npm_tool(VALIDATOR_DIR, "gltf-validator", "validate.js", "the Khronos glTF-Validator")


def messages(report: dict, severity: int) -> list[tuple[str, str]]:
    """(code, pointer) of the report's issues of ``severity`` (0 error, 1 warning,
    2 info, 3 hint)."""
    return [(m["code"], m.get("pointer", "")) for m in report["issues"]["messages"]
            if m["severity"] == severity]  # fmt: skip
