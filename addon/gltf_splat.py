"""glTF 2.0 writer/reader for Gaussian splats with ``KHR_gaussian_splatting`` (numpy + json).

One mesh with one ``POINTS`` primitive whose attributes are, per splat:

- ``POSITION`` VEC3 float (metres, glTF frame: y up, the asset facing +z);
- ``KHR_gaussian_splatting:ROTATION`` VEC4 float unit quaternion **x y z w**;
- ``KHR_gaussian_splatting:SCALE`` VEC3 float standard deviation in metres, **linear**
  and non-negative (the Release Candidate of the extension: "Scale values are linear and
  MUST NOT be negative"; an earlier review draft stored log scale);
- ``KHR_gaussian_splatting:OPACITY`` SCALAR float in [0, 1] (after the sigmoid);
- ``KHR_gaussian_splatting:SH_DEGREE_0_COEF_0`` VEC3 float, and for higher bands
  ``KHR_gaussian_splatting:SH_DEGREE_l_COEF_n`` (n = 0..2l), each (r, g, b);
- ``COLOR_0`` VEC4 float (rgb = 0.5 + SH_C0 * f_dc, alpha = opacity) as the fallback for
  viewers that draw plain points;
- ``_PART`` SCALAR unsigned byte (Sapiens class id) when the splats are labelled
  (application-specific attributes start with an underscore). It sits in a buffer view
  with ``byteStride`` 4 (one byte of label, three of padding per splat) because glTF
  requires every vertex-attribute element to be 4-byte aligned. It is the only custom
  attribute: Blender's own glTF importer (5.0) pairs custom attributes with their data in
  set order, so two of them get each other's values in about half of its runs and the
  import fails. The label confidence therefore stays in the PLY only.

Every buffer view of the primitive has ``target`` ARRAY_BUFFER (34962).

The model frame of splat files and the glTF frame share their axes, so only a uniform
scale and a translation separate them: rotations and SH coefficients pass unchanged.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from .portable.parts import PART_NAMES
from .portable.splatfile import Splats

EXT = "KHR_gaussian_splatting"
_FLOAT, _UBYTE = 5126, 5121
_ARRAY_BUFFER = 34962
_TYPES = {1: "SCALAR", 3: "VEC3", 4: "VEC4"}


def sh_attribute_names(bands: int) -> list[str]:
    """Names of the ``bands`` higher SH coefficients in file order (degree 1 first)."""
    names = []
    for k in range(bands):
        degree = int(np.floor(np.sqrt(k + 1)))
        names.append(f"{EXT}:SH_DEGREE_{degree}_COEF_{k + 1 - degree * degree}")
    return names


def splat_attributes(s: Splats) -> dict[str, np.ndarray]:
    """The primitive's attribute arrays for ``s`` (already in the glTF frame, metres)."""
    n = len(s)
    q = s.unit_quats()  # wxyz
    attrs: dict[str, np.ndarray] = {
        "POSITION": np.ascontiguousarray(s.means, np.float32),
        f"{EXT}:ROTATION": np.ascontiguousarray(q[:, [1, 2, 3, 0]], np.float32),
        f"{EXT}:SCALE": np.exp(s.log_scales.astype(np.float64)).astype(np.float32),
        f"{EXT}:OPACITY": s.opacity().reshape(n),
        f"{EXT}:SH_DEGREE_0_COEF_0": np.ascontiguousarray(s.sh0, np.float32),
    }
    for k, name in enumerate(sh_attribute_names(s.sh_rest.shape[1])):
        attrs[name] = np.ascontiguousarray(s.sh_rest[:, k, :], np.float32)
    attrs["COLOR_0"] = np.concatenate([s.rgb(), s.opacity()[:, None]], axis=1)
    if s.labelled:
        attrs["_PART"] = np.ascontiguousarray(s.part, np.uint8)
    return attrs


def to_gltf(s: Splats, name: str = "splats") -> tuple[dict, bytes]:
    """(glTF JSON document, binary buffer) for one node holding ``s``."""
    attrs = splat_attributes(s)
    blob = bytearray()
    views, accessors, prim_attrs = [], [], {}
    for key, arr in attrs.items():
        arr = np.ascontiguousarray(arr)
        width = 1 if arr.ndim == 1 else arr.shape[1]
        while len(blob) % 4:
            blob.append(0)
        view = {"buffer": 0, "byteOffset": len(blob), "target": _ARRAY_BUFFER}
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        if arr.dtype == np.uint8:  # pad each element to 4 bytes (glTF's alignment rule)
            padded = np.zeros((len(arr), 4), np.uint8)
            padded[:, :width] = data.reshape(len(arr), width)
            data = padded
            view["byteStride"] = 4
        view["byteLength"] = data.nbytes
        views.append(view)
        blob += data.tobytes()
        acc = {
            "bufferView": len(views) - 1,
            "componentType": _UBYTE if arr.dtype == np.uint8 else _FLOAT,
            "count": int(len(arr)),
            "type": _TYPES[width],
        }
        if key == "POSITION" and len(arr):
            acc["min"] = [float(v) for v in arr.min(axis=0)]
            acc["max"] = [float(v) for v in arr.max(axis=0)]
        prim_attrs[key] = len(accessors)
        accessors.append(acc)
    while len(blob) % 4:
        blob.append(0)
    extras = {"sh_degree": s.sh_degree}
    if s.labelled:
        extras["part_classes"] = list(PART_NAMES)
    doc = {
        "asset": {"version": "2.0", "generator": "HumanCrafter Blender add-on"},
        "extensionsUsed": [EXT],
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"name": name, "mesh": 0}],
        "meshes": [
            {
                "name": name,
                "primitives": [
                    {
                        "attributes": prim_attrs,
                        "mode": 0,
                        "extensions": {
                            EXT: {
                                "kernel": "ellipse",
                                "colorSpace": "srgb_rec709_display",
                                "sortingMethod": "cameraDistance",
                                "projection": "perspective",
                            }
                        },
                        "extras": extras,
                    }
                ],
            }
        ],
        "buffers": [{"byteLength": len(blob)}],
        "bufferViews": views,
        "accessors": accessors,
    }
    return doc, bytes(blob)


def write(path: str | Path, s: Splats, name: str = "splats") -> None:
    """Write ``s`` as ``.glb`` (one binary file) or ``.gltf`` (+ ``.bin`` beside it)."""
    path = Path(path)
    doc, blob = to_gltf(s, name)
    if path.suffix.lower() == ".gltf":
        bin_path = path.with_suffix(".bin")
        doc["buffers"][0]["uri"] = bin_path.name
        bin_path.write_bytes(blob)
        path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        return
    path.write_bytes(glb_bytes(doc, blob))


def glb_bytes(doc: dict, blob: bytes) -> bytes:
    """A GLB container (header, JSON chunk padded with spaces, BIN chunk) for a glTF
    document whose single buffer is ``blob`` (its length a multiple of 4)."""
    js = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    js += b" " * (-len(js) % 4)
    total = 12 + 8 + len(js) + 8 + len(blob)
    return b"".join([
        struct.pack("<4sII", b"glTF", 2, total),
        struct.pack("<I4s", len(js), b"JSON"), js,
        struct.pack("<I4s", len(blob), b"BIN\x00"), blob,
    ])  # fmt: skip


def read_attributes(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(glTF JSON, attribute name -> array) of the first primitive of a file written by
    :func:`write` (used by tests and to check exports)."""
    path = Path(path)
    data = path.read_bytes()
    if data[:4] == b"glTF":
        jlen = struct.unpack_from("<I", data, 12)[0]
        doc = json.loads(data[20 : 20 + jlen])
        blen = struct.unpack_from("<I", data, 20 + jlen)[0]
        blob = data[28 + jlen : 28 + jlen + blen]
    else:
        doc = json.loads(data)
        blob = (path.parent / doc["buffers"][0]["uri"]).read_bytes()
    prim = doc["meshes"][0]["primitives"][0]
    out = {}
    for key, idx in prim["attributes"].items():
        acc = doc["accessors"][idx]
        view = doc["bufferViews"][acc["bufferView"]]
        dtype = np.dtype(np.uint8 if acc["componentType"] == _UBYTE else np.float32)
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc["type"]]
        start = view["byteOffset"] + acc.get("byteOffset", 0)
        stride = view.get("byteStride", dtype.itemsize * width)
        n = acc["count"]
        raw = np.frombuffer(blob, np.uint8, (n - 1) * stride + dtype.itemsize * width, start)
        rows = np.lib.stride_tricks.as_strided(raw, (n, dtype.itemsize * width), (stride, 1))
        arr = np.ascontiguousarray(rows).view(dtype.newbyteorder("<")).astype(dtype)
        out[key] = arr.reshape(n, width) if width > 1 else arr.reshape(n)
    return doc, out


def read_splats(path: str | Path) -> Splats:
    """The splats of a file written by :func:`write`, in the glTF frame (metres, y up),
    back as file values (log scale, opacity logit, w x y z); labels get confidence 1."""
    doc, a = read_attributes(path)
    n = len(a["POSITION"])
    prim = doc["meshes"][0]["primitives"][0]
    degree = prim.get("extras", {}).get("sh_degree", 0)
    rest = [a[name] for name in sh_attribute_names((degree + 1) ** 2 - 1)]
    opacity = np.clip(a[f"{EXT}:OPACITY"].astype(np.float64), 1e-7, 1 - 1e-7)
    part = a.get("_PART")
    return Splats(
        means=a["POSITION"].astype(np.float32),
        sh0=a[f"{EXT}:SH_DEGREE_0_COEF_0"].astype(np.float32),
        opacities=np.log(opacity / (1 - opacity)).astype(np.float32),
        log_scales=np.log(np.maximum(a[f"{EXT}:SCALE"], 1e-30)).astype(np.float32),
        quats=a[f"{EXT}:ROTATION"][:, [3, 0, 1, 2]].astype(np.float32),
        sh_rest=np.stack(rest, 1) if rest else np.zeros((n, 0, 3), np.float32),
        normals=np.zeros((n, 3), np.float32),
        part=None if part is None else part.astype(np.uint8),
        part_conf=None if part is None else np.ones(n, np.float32),
    )
