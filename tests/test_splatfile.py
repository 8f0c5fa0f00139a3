"""The semantic splat file: exact round trips, foreign layouts, and a corpus of bad files."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest

from humancrafter.portable import parts, splatfile
from humancrafter.portable.splatfile import Skeleton, SplatFileError, Splats

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def random_skeleton(rng: np.random.Generator, j: int = 24) -> Skeleton:
    parents = np.array([-1] + [int(rng.integers(0, i)) for i in range(1, j)], np.int32)
    names = tuple(f"joint_{i}" for i in range(j))
    return Skeleton(names, parents, rng.normal(size=(j, 3)).astype(np.float32))


def random_skin(rng: np.random.Generator, n: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4) joints and weights summing to 1 (float32), some slots unused (weight 0)."""
    w = rng.random((n, 4)).astype(np.float32) * (rng.random((n, 4)) > 0.3)
    w[:, 0] += 0.1
    w /= w.sum(1, keepdims=True, dtype=np.float64).astype(np.float32)
    return rng.integers(0, j, (n, 4)).astype(np.uint8), w


def random_splats(
    n: int, bands: int = 0, labelled: bool = True, seed: int = 0, rigged: bool = False
) -> Splats:
    rng = np.random.default_rng(seed)

    def f(*shape: int) -> np.ndarray:
        return rng.normal(size=shape).astype(np.float32)

    skeleton = random_skeleton(rng) if rigged else None
    joints, weights = random_skin(rng, n, 24) if rigged else (None, None)
    return Splats(
        means=f(n, 3),
        sh0=f(n, 3),
        opacities=f(n),
        log_scales=f(n, 3),
        quats=f(n, 4),
        sh_rest=f(n, bands, 3),
        normals=f(n, 3),
        part=rng.integers(0, parts.NUM_PARTS, n).astype(np.uint8) if labelled else None,
        part_conf=rng.random(n).astype(np.float32) if labelled else None,
        skin_joints=joints,
        skin_weights=weights,
        skeleton=skeleton,
    )


def assert_same(a: Splats, b: Splats) -> None:
    for field in dataclasses.fields(Splats):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if x is None or y is None:
            assert x is None and y is None, field.name
            continue
        if field.name == "skeleton":
            assert x.same_as(y), "skeleton differs"
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, field.name
        assert x.tobytes() == y.tobytes(), f"{field.name} differs"


def ply_bytes(
    props: list[tuple[str, str]], rows: np.ndarray, fmt: str = "binary_little_endian"
) -> bytes:
    """A PLY with one vertex element of the given (type, name) properties."""
    head = ["ply", f"format {fmt} 1.0", f"element vertex {len(rows)}"]
    head += [f"property {t} {n}" for t, n in props] + ["end_header"]
    return ("\n".join(head) + "\n").encode() + rows.tobytes()


GS_PROPS = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity"]
GS_PROPS += ["scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]


@pytest.mark.parametrize("bands", [0, 3, 8, 15])
@pytest.mark.parametrize("labelled", [True, False])
@pytest.mark.parametrize("rigged", [True, False])
def test_round_trip_is_bit_exact(tmp_path: Path, bands: int, labelled: bool, rigged: bool) -> None:
    s = random_splats(257, bands, labelled, rigged=rigged)
    path = tmp_path / "a.ply"
    splatfile.save(path, s)
    back = splatfile.load(path)
    assert_same(s, back)
    assert back.sh_degree == {0: 0, 3: 1, 8: 2, 15: 3}[bands]
    assert splatfile.dumps(back) == path.read_bytes()
    assert_same(splatfile.loads(path.read_bytes()), s)


def test_header_names_classes_and_version() -> None:
    text = splatfile.dumps(random_splats(3)).split(b"end_header")[0].decode()
    assert f"comment humancrafter_format {splatfile.FORMAT_VERSION}" in text
    for i, name in enumerate(parts.PART_NAMES):
        r, g, b = parts.PALETTE[i]
        assert f"comment part {i} {name} {r} {g} {b}" in text
    assert "property uchar part" in text and "property float part_conf" in text
    # An unlabelled file is a plain Inria file: no part properties, no class comments.
    plain = splatfile.dumps(random_splats(3, labelled=False)).split(b"end_header")[0].decode()
    assert "part" not in plain


def test_rigged_header_and_subsets() -> None:
    s = random_splats(40, rigged=True)
    text = splatfile.dumps(s).split(b"end_header")[0].decode()
    assert "comment humancrafter_format 2" in text
    j = s.skeleton
    x, y, z = (format(float(v), ".9g") for v in j.joints[3])
    assert f"comment joint 3 joint_3 {j.parents[3]} {x} {y} {z}" in text
    for k in range(4):
        assert (
            f"property uchar skin_joint_{k}" in text and f"property float skin_weight_{k}" in text
        )
    part = s.subset(s.part == s.part[0])
    assert part.skeleton is s.skeleton and len(part) == int((s.part == s.part[0]).sum())
    assert_same(splatfile.loads(splatfile.dumps(part)), part)


def test_version_1_files_still_load() -> None:
    """A file written before version 2 (labels, no skeleton) reads as it always did."""
    s = random_splats(30, 3)
    v1 = splatfile.dumps(s).replace(b"humancrafter_format 2", b"humancrafter_format 1", 1)
    back = splatfile.loads(v1)
    assert_same(back, s)
    assert not back.rigged


def test_writer_refuses_bad_skins() -> None:
    s = random_splats(6, rigged=True)
    bad = dataclasses.replace(s, skin_weights=s.skin_weights * np.float32(0.5))
    with pytest.raises(SplatFileError, match="skin weight sums"):
        splatfile.dumps(bad)
    short = Skeleton(s.skeleton.names[:2], s.skeleton.parents[:2], s.skeleton.joints[:2])
    joints = np.zeros_like(s.skin_joints)
    joints[0, 0] = 5
    with pytest.raises(SplatFileError, match="skin joint 5 is not a joint"):
        splatfile.dumps(dataclasses.replace(s, skeleton=short, skin_joints=joints))
    with pytest.raises(SplatFileError, match="all be given"):
        dataclasses.replace(s, skeleton=None)
    with pytest.raises(SplatFileError, match="parent must come before"):
        Skeleton(("a", "b"), np.array([-1, 1], np.int32), np.zeros((2, 3), np.float32))
    with pytest.raises(SplatFileError, match="plain ASCII name"):
        Skeleton(("a b",), np.array([-1], np.int32), np.zeros((1, 3), np.float32))


def test_empty_file_round_trips() -> None:
    s = random_splats(0)
    assert len(splatfile.loads(splatfile.dumps(s))) == 0


def test_reads_lgm_layout_with_unnormalised_quats() -> None:
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(50, 14)).astype("<f4")
    s = splatfile.loads(ply_bytes([("float", n) for n in GS_PROPS], rows))
    assert len(s) == 50 and not s.labelled and s.sh_degree == 0
    np.testing.assert_array_equal(s.quats, rows[:, 10:14])
    np.testing.assert_allclose(np.linalg.norm(s.unit_quats(), axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(s.normals, 0)


def test_reads_other_orders_types_and_endianness() -> None:
    """Property order, doubles, big-endian and unknown extra properties are all fine."""
    rng = np.random.default_rng(2)
    names = list(reversed(GS_PROPS)) + ["extra_thing"]
    dt = np.dtype([(n, ">f8") for n in names])
    rows = np.zeros(20, dt)
    for n in names:
        rows[n] = rng.normal(size=20)
    s = splatfile.loads(ply_bytes([("double", n) for n in names], rows, "binary_big_endian"))
    np.testing.assert_allclose(s.means[:, 1], rows["y"].astype(np.float32))
    np.testing.assert_allclose(s.quats[:, 0], rows["rot_0"].astype(np.float32))


def test_activated_values() -> None:
    rgb = np.array([[0.2, 0.5, 0.9]], np.float32)
    s = Splats.from_activated(
        np.zeros((1, 3)), rgb, np.array([0.7]), np.array([[0.01, 0.02, 0.03]]), [[1, 0, 0, 0]]
    )
    np.testing.assert_allclose(s.rgb(), rgb, atol=1e-6)
    np.testing.assert_allclose(s.opacity(), [0.7], atol=1e-6)
    np.testing.assert_allclose(s.scales(), [[0.01, 0.02, 0.03]], rtol=1e-5)


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")
@pytest.mark.parametrize("name", ["hc_novel_10", "hc_novel_14", "hc_novel_29", "hc_other_novel_9"])
def test_reads_published_samples(name: str) -> None:
    path = SAMPLES / f"{name}.ply"
    s = splatfile.load(path)
    header = path.read_bytes()[:2000].decode("latin-1")
    count = int(header.split("element vertex ")[1].split()[0])
    assert len(s) == count > 10_000
    assert not s.labelled
    extent = s.means.max(0) - s.means.min(0)
    assert 0.5 < extent[1] < 1.5, "about one unit tall, y up"


def test_writer_refuses_bad_labels() -> None:
    s = random_splats(4)
    s.part[2] = parts.NUM_PARTS
    with pytest.raises(SplatFileError, match="not a class id"):
        splatfile.dumps(s)
    with pytest.raises(SplatFileError, match="shape"):
        Splats(**{**dataclasses.asdict(random_splats(4)), "means": np.zeros((3, 3), np.float32)})


# ----------------------------------------------------------------------------- bad files


def _good() -> bytes:
    return splatfile.dumps(random_splats(100, 3))


def _with_value(name: str, value: float) -> bytes:
    rows = np.ones((10, 14), "<f4")
    rows[4, GS_PROPS.index(name)] = value
    return ply_bytes([("float", n) for n in GS_PROPS], rows)


def _replace_header(old: bytes, new: bytes) -> bytes:
    data = _good()
    assert old in data
    return data.replace(old, new, 1)


BIN = b"ply\nformat binary_little_endian 1.0\n"
XYZ = [("float", "x"), ("float", "y"), ("float", "z")]
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "not a PLY"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a PLY"),
    "random": (np.random.default_rng(3).bytes(5000), "not a PLY"),
    "ascii": (
        b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n1\n",
        "ASCII",
    ),
    "no end_header": (BIN + b"comment x\n" * 8000, "end_header"),
    "no format": (b"ply\nelement vertex 0\nproperty float x\nend_header\n", "format"),
    "unknown format": (b"ply\nformat binary_middle_endian 1.0\nend_header\n", "unknown PLY format"),
    "unknown type": (_replace_header(b"float y", b"float16 y"), "unknown property type"),
    "unknown keyword": (_replace_header(b"element vertex", b"elephant vertex"), "unknown header"),
    "count lies": (_replace_header(b"vertex 100", b"vertex 101"), "truncated"),
    "truncated body": (_good()[:-7], "truncated"),
    "absurd count": (_replace_header(b"vertex 100", b"vertex 999999999999"), "at most"),
    "negative count": (_replace_header(b"vertex 100", b"vertex -100"), "bad element"),
    "huge but short": (_replace_header(b"vertex 100", b"vertex 40000000"), "truncated"),
    "nan": (_with_value("x", float("nan")), "'x' has 1 NaN/inf"),
    "inf": (_with_value("scale_1", float("inf")), "'scale_1' has 1 NaN/inf"),
    "not splats": (ply_bytes(XYZ, np.zeros((2, 3), "<f4")), "missing vertex properties"),
    "list in vertex": (BIN + b"element vertex 1\nproperty list uchar int i\nend_header\n", "list"),
    "no vertex": (BIN + b"element face 0\nproperty float q\nend_header\n", "no 'vertex'"),
    "bad f_rest": (
        ply_bytes([("float", n) for n in GS_PROPS + ["f_rest_0"]], np.zeros((1, 15), "<f4")),
        "f_rest",
    ),
    "non-ascii header": (BIN + b"comment \xff\xfe\nend_header\n", "ASCII"),
    "duplicate property": (_replace_header(b"property float y", b"property float x"), "twice"),
}


def _part_out_of_range() -> bytes:
    """A labelled file whose splat 3 has class id 200."""
    data = bytearray(splatfile.dumps(random_splats(5)))
    stride = 17 * 4 + 1 + 4  # 17 floats, the part byte, part_conf
    body_start = len(data) - 5 * stride
    data[body_start + 3 * stride + 17 * 4] = 200
    return bytes(data)


BAD_FILES["part out of range"] = (_part_out_of_range(), "'part' has values outside")
BAD_FILES["huge part class index"] = (
    _replace_header(b"comment part 0 ", b"comment part 50000000 "),
    "names part class 50000000",
)
BAD_FILES["5000-digit part class index"] = (
    _replace_header(b"comment part 0 ", b"comment part " + b"9" * 5000 + b" "),
    "5000 digits",
)
BAD_FILES["5000-digit count"] = (
    _replace_header(b"vertex 100", b"vertex 1" + b"0" * 4999),
    "5000 digits",
)


def _rigged() -> bytes:
    return splatfile.dumps(random_splats(10, rigged=True))


def _rigged_header(old: bytes, new: bytes) -> bytes:
    data = _rigged()
    assert old in data
    return data.replace(old, new, 1)


def _joint_1(line: bytes) -> bytes:
    """The rigged file with its header line for joint 1 replaced by ``line``."""
    lines = _rigged().split(b"\n")
    i = next(k for k, ln in enumerate(lines) if ln.startswith(b"comment joint 1 "))
    return b"\n".join(lines[:i] + [line] + lines[i + 1 :])


def _skin_joint_out_of_range() -> bytes:
    """A rigged file whose splat 2 follows joint 99 of its 24."""
    data = bytearray(_rigged())
    stride = 17 * 4 + 5 + 4 + 16
    body_start = len(data) - 10 * stride
    data[body_start + 2 * stride + 17 * 4 + 5] = 99
    return bytes(data)


BAD_FILES["skin joint out of range"] = (_skin_joint_out_of_range(), "'skin_joint_0' has values")
BAD_FILES["skin without skeleton"] = (
    b"\n".join(ln for ln in _rigged().split(b"\n") if not ln.startswith(b"comment joint")),
    "no skeleton",
)
BAD_FILES["skeleton without skin"] = (
    _rigged_header(b"property uchar skin_joint_3", b"property uchar other_3"),
    "lacks skin_joint_3",
)
BAD_FILES["joint index gap"] = (
    _rigged_header(b"comment joint 5 ", b"comment joint 99 "),
    "no joint 5",
)
BAD_FILES["joint index twice"] = (
    _rigged_header(b"comment joint 5 ", b"comment joint 4 "),
    "joint 4 a second time",
)
BAD_FILES["huge joint index"] = (
    _rigged_header(b"comment joint 5 ", b"comment joint " + b"9" * 5000 + b" "),
    "5000 digits",
)
BAD_FILES["joint beyond one byte"] = (
    _rigged_header(b"comment joint 5 ", b"comment joint 300 "),
    "at most 256",
)
BAD_FILES["joint parent after it"] = (
    _joint_1(b"comment joint 1 joint_1 7 0 0 0"),
    "parent does not come before",
)
BAD_FILES["joint at infinity"] = (
    _joint_1(b"comment joint 1 joint_1 0 1e999 0 0"),
    "not finite",
)
BAD_FILES["joint position not a number"] = (
    _joint_1(b"comment joint 1 joint_1 0 zz 0 0"),
    "bad position",
)
BAD_FILES["short joint line"] = (
    _joint_1(b"comment joint 1 joint_1 0 0"),
    "bad joint line",
)
BAD_FILES["joint name with odd bytes"] = (
    _joint_1(b"comment joint 1 j~1 0 0 0 0"),
    "plain ASCII name",
)
BAD_FILES["far centre"] = (_with_value("y", 3e38), "means has 1 splats with values outside")
BAD_FILES["huge scale"] = (_with_value("scale_2", 69.0), "log_scales has 1 splats")


def test_header_numbers_are_bounded_before_they_size_anything() -> None:
    """One header line must not make the reader allocate (the old reader built a table of
    N + 1 names for ``comment part N``: 471 MB for N = 50,000,000)."""
    import tracemalloc

    data = _replace_header(b"comment part 0 ", b"comment part 49999999 ")
    tracemalloc.start()
    try:
        with pytest.raises(SplatFileError, match="part class"):
            splatfile.loads(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak


def test_one_rule_for_values_in_reader_writer_and_spz() -> None:
    from humancrafter.spz import splats_to_spz

    s = random_splats(8)
    s.quats[2] = 0.0  # a zero quaternion is "no rotation", everywhere
    back = splatfile.loads(splatfile.dumps(s))
    assert back.unit_quats()[2].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert len(splats_to_spz(back)) > 0
    for name, value in [("means", 3e38), ("log_scales", 69.0), ("sh0", np.inf)]:
        bad = dataclasses.replace(s, **{name: getattr(s, name).copy()})
        getattr(bad, name)[5] = value
        for use in (splatfile.dumps, splats_to_spz):
            with pytest.raises(SplatFileError, match=name):
                use(bad)
    far = dataclasses.replace(s, means=s.means + np.float32(3000.0))
    with pytest.raises(SplatFileError, match="beyond what SPZ"):
        splats_to_spz(far)


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_gives_one_clear_error(tmp_path: Path, case: str) -> None:
    data, expected = BAD_FILES[case]
    path = tmp_path / "bad.ply"
    path.write_bytes(data)
    start = time.perf_counter()
    for read in (lambda: splatfile.loads(data), lambda: splatfile.load(path)):
        with pytest.raises(SplatFileError) as info:
            read()
        assert expected in str(info.value), str(info.value)
        assert "\n" not in str(info.value)
    assert time.perf_counter() - start < 5.0


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SplatFileError, match="cannot read"):
        splatfile.load(tmp_path / "nope.ply")
    with pytest.raises(SplatFileError, match="cannot read"):
        splatfile.load(tmp_path)


def test_mutated_files_never_crash() -> None:
    """Random truncations and byte flips either read or raise SplatFileError, nothing else."""
    good = _good()
    rng = np.random.default_rng(4)
    outcomes = {"read": 0, "error": 0}
    for _ in range(300):
        data = bytearray(good)
        if rng.random() < 0.3:
            data = data[: rng.integers(0, len(data))]
        for _ in range(rng.integers(1, 6)):
            if data:
                data[rng.integers(0, min(len(data), 1200))] = rng.integers(0, 256)
        try:
            splatfile.loads(bytes(data))
            outcomes["read"] += 1
        except SplatFileError:
            outcomes["error"] += 1
    assert outcomes["read"] > 0 and outcomes["error"] > 0
