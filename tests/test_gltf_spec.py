"""Our splat glTF against the outside world: the spec's own decoding formulas and the
Khronos glTF-Validator.

- The covariance test decodes a GLB written by ``addon/gltf_splat.py`` with a parser of
  its own and the formulas of ``KHR_gaussian_splatting`` (KhronosGroup/glTF,
  ``extensions/2.0/Khronos/KHR_gaussian_splatting/README.md``, *Splat Reconstruction*):
  Σ = M C Cᵀ Mᵀ, M the upper-left 3×3 of the node's global matrix, C the rotation of the
  unit quaternion (x, y, z, w) with its columns scaled by the linear scales. It must give
  back the covariances that the project's renderer builds from the source PLY values.
- The validator tests run the npm package ``gltf-validator`` (pinned in
  ``tools/gltf-validator/package-lock.json``) through node (``tests/blender/gltf_validator.py``).
  ``make install`` installs it; when it is missing and npm is present the test runs
  ``npm ci`` itself; without node or npm the tests skip, saying so.

The validator (2.0.0-dev.3.10) does not know ``KHR_gaussian_splatting`` yet (an info,
``UNSUPPORTED_EXTENSION``), and it does not yet accept extension-scoped attribute
semantics such as ``KHR_gaussian_splatting:SCALE``: it reports each as
``MESH_PRIMITIVE_INVALID_ATTRIBUTE`` (KhronosGroup/glTF-Validator issue #252, open; the
core spec change is KhronosGroup/glTF pull request #2514). Those are the only errors
allowed, exactly one per extension attribute; the same document with those semantics
renamed to application-specific ones (``_KHR_gaussian_splatting_SCALE`` ...) must have
no error and no warning, so every accessor and buffer view is checked by the validator.
"""

from __future__ import annotations

import importlib
import json
import struct
import sys
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from humancrafter.render.cpu import quat_scale_to_covar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "blender"))

from gltf_validator import messages, validator  # noqa: E402
from synth_body import body  # noqa: E402


def _gltf_splat() -> types.ModuleType:
    """``addon/gltf_splat.py`` as a submodule of a stand-in package (no bpy needed)."""
    if "hc_addon_gltf" not in sys.modules:
        package = types.ModuleType("hc_addon_gltf")
        package.__path__ = [str(ROOT / "addon")]
        sys.modules["hc_addon_gltf"] = package
    return importlib.import_module("hc_addon_gltf.gltf_splat")


gltf_splat = _gltf_splat()
EXT = "KHR_gaussian_splatting"


# ----------------------------------------------------------------------------- spec decoding

_COMPONENTS = {5126: np.dtype("<f4"), 5121: np.dtype("u1")}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def _parse_glb(data: bytes) -> tuple[dict, bytes]:
    """(JSON, BIN chunk) of a GLB, read by the container layout of glTF 2.0 §4.4."""
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    jlen, jtype = struct.unpack_from("<I4s", data, 12)
    assert jtype == b"JSON" and jlen % 4 == 0
    blen, btype = struct.unpack_from("<I4s", data, 20 + jlen)
    assert btype == b"BIN\x00"
    return json.loads(data[20 : 20 + jlen]), data[28 + jlen : 28 + jlen + blen]


def _accessor(doc: dict, blob: bytes, index: int) -> np.ndarray:
    """(count, width) values of accessor ``index``, honouring byteOffset and byteStride."""
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype, width = _COMPONENTS[acc["componentType"]], _WIDTH[acc["type"]]
    stride = view.get("byteStride", dtype.itemsize * width)
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    rows = [np.frombuffer(blob, dtype, width, start + i * stride) for i in range(acc["count"])]
    return np.stack(rows).astype(np.float64)


def _node_matrix(node: dict) -> np.ndarray:
    """4×4 local matrix of a glTF node: ``matrix`` (column-major) or T · R · S."""
    if "matrix" in node:
        return np.array(node["matrix"], np.float64).reshape(4, 4).T
    x, y, z, w = node.get("rotation", (0.0, 0.0, 0.0, 1.0))
    r = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip
    m = np.eye(4)
    m[:3, :3] = r * np.array(node.get("scale", (1.0, 1.0, 1.0)))
    m[:3, 3] = node.get("translation", (0.0, 0.0, 0.0))
    return m


def _spec_covariances(q_xyzw: np.ndarray, s: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Σ = M C Cᵀ Mᵀ with C exactly as the extension's *Splat Reconstruction* writes it."""
    qx, qy, qz, qw = q_xyzw.T
    sx, sy, sz = s.T
    rows = [
        [sx * (1 - 2 * (qy**2 + qz**2)), sy * (2 * (qx * qy - qw * qz)),
         sz * (2 * (qx * qz + qw * qy))],
        [sx * (2 * (qx * qy + qw * qz)), sy * (1 - 2 * (qx**2 + qz**2)),
         sz * (2 * (qy * qz - qw * qx))],
        [sx * (2 * (qx * qz - qw * qy)), sy * (2 * (qy * qz + qw * qx)),
         sz * (1 - 2 * (qx**2 + qy**2))],
    ]  # fmt: skip
    c = np.stack([np.stack(row, axis=-1) for row in rows], axis=1)  # (N, 3, 3)
    mc = m[None] @ c
    return mc @ mc.transpose(0, 2, 1)


def test_glb_decoded_by_the_spec_gives_the_source_covariances(tmp_path: Path) -> None:
    s = body(4_000, seed=3)  # unnormalised quaternions, anisotropic scales
    path = tmp_path / "splats.glb"
    gltf_splat.write(path, s)
    doc, blob = _parse_glb(path.read_bytes())
    node = doc["nodes"][doc["scenes"][doc["scene"]]["nodes"][0]]
    prim = doc["meshes"][node["mesh"]]["primitives"][0]
    assert prim["mode"] == 0 and EXT in prim["extensions"]
    attrs = prim["attributes"]
    q = _accessor(doc, blob, attrs[f"{EXT}:ROTATION"])
    scale = _accessor(doc, blob, attrs[f"{EXT}:SCALE"])
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-6)  # "unit quaternions"
    assert scale.min() >= 0  # "Scale values are linear and MUST NOT be negative"
    got = _spec_covariances(q, scale, _node_matrix(node)[:3, :3])
    ref = quat_scale_to_covar(
        torch.from_numpy(s.quats.astype(np.float64)),
        torch.from_numpy(np.exp(s.log_scales.astype(np.float64))),
    ).numpy()
    tol = 1e-6 * np.abs(ref).max(axis=(1, 2))[:, None, None]
    assert np.all(np.abs(got - ref) <= tol)
    # the mean is POSITION and the opacity is linear, as the extension defines them
    np.testing.assert_allclose(_accessor(doc, blob, attrs["POSITION"]), s.means, atol=0)
    opacity = _accessor(doc, blob, attrs[f"{EXT}:OPACITY"])[:, 0]
    np.testing.assert_allclose(
        opacity, 1 / (1 + np.exp(-s.opacities.astype(np.float64))), atol=1e-6
    )


# ----------------------------------------------------------------------------- validator


@pytest.fixture(scope="module")
def validate() -> Callable[[Path], dict]:
    """A function: path of a .glb / .gltf -> the glTF-Validator's report (its JSON)."""
    run = validator()
    if isinstance(run, str):
        pytest.skip(run)
    return run


def _splats(labelled: bool, sh_bands: int):
    s = body(3_000, seed=7, sh_bands=sh_bands)
    if not labelled:
        s.part = s.part_conf = None
    return s


@pytest.mark.parametrize("suffix", [".glb", ".gltf"])
@pytest.mark.parametrize(("labelled", "sh_bands"), [(True, 15), (False, 0)])
def test_validator_finds_no_core_errors(validate, tmp_path, suffix, labelled, sh_bands) -> None:
    s = _splats(labelled, sh_bands)
    path = tmp_path / f"splats{suffix}"
    gltf_splat.write(path, s)
    report = validate(path)
    prim = "/meshes/0/primitives/0/attributes/"
    ours = {k for k in gltf_splat.splat_attributes(s) if k.startswith(f"{EXT}:")}
    errors = messages(report, 0)
    # validator issue #252: extension-scoped semantics are not known to it yet
    assert {code for code, _ in errors} <= {"MESH_PRIMITIVE_INVALID_ATTRIBUTE"}, errors
    assert sorted(p.removeprefix(prim) for _, p in errors) == sorted(ours)
    assert messages(report, 1) == []  # no warnings
    assert messages(report, 2) == [("UNSUPPORTED_EXTENSION", "/extensionsUsed/0")]
    assert report["info"]["totalVertexCount"] == len(s)

    # the same document with application-specific names: nothing left to complain about
    doc, blob = gltf_splat.to_gltf(s)
    attrs = doc["meshes"][0]["primitives"][0]["attributes"]
    renamed = {("_" + k.replace(":", "_") if k in ours else k): v for k, v in attrs.items()}
    doc["meshes"][0]["primitives"][0]["attributes"] = renamed
    plain = tmp_path / "renamed.glb"
    plain.write_bytes(gltf_splat.glb_bytes(doc, blob))
    report = validate(plain)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report
    assert report["info"]["maxAttributes"] == len(attrs)


def test_validator_catches_a_broken_copy(validate, tmp_path) -> None:
    """The harness sees core errors: our labelled GLB with ``_PART`` left unpadded (one
    byte per splat, no byteStride) breaks glTF's 4-byte alignment of vertex attributes."""
    s = _splats(True, 0)
    doc, blob = gltf_splat.to_gltf(s)
    view = doc["bufferViews"][
        doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"]["_PART"]]["bufferView"]
    ]
    del view["byteStride"]
    path = tmp_path / "broken.glb"
    path.write_bytes(gltf_splat.glb_bytes(doc, blob))
    errors = [e for e in messages(validate(path), 0) if e[0] != "MESH_PRIMITIVE_INVALID_ATTRIBUTE"]
    assert errors == [
        ("MESH_PRIMITIVE_ACCESSOR_UNALIGNED", "/meshes/0/primitives/0/attributes/_PART")
    ]
