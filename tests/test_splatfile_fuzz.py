"""Fuzzing the splat reader (hypothesis) over mutated headers and bodies.

The reader is fed files built from good ones (labelled, plain, LGM and rigged) by
editing header lines (numbers of any length, class indices, joint lines, counts, types,
keywords), flipping body bytes, truncating and appending. Every input must give a valid
:class:`Splats` or one :class:`SplatFileError` with a one-line message, never another
exception, and never more memory than the address-space limit the child process runs
under (``resource.RLIMIT_AS``): a header line that sized a table by itself would end in
``MemoryError`` there. The run is short (a few hundred examples, a few seconds) so that
it runs in CI with the rest of the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="resource limits are POSIX")

EXAMPLES = 400
HEADROOM_MB = 300
"""Address space the reader may use beyond what the child holds after its imports."""

CHILD = textwrap.dedent(
    r"""
    import resource, sys, time
    import numpy as np
    from hypothesis import HealthCheck, given, settings, strategies as st
    from humancrafter.portable import splatfile
    from humancrafter.portable.splatfile import Skeleton, SplatFileError, Splats

    rng = np.random.default_rng(0)
    def splats(n, bands, labelled):
        f = lambda *s: rng.normal(size=s).astype(np.float32)
        return Splats(means=f(n, 3), sh0=f(n, 3), opacities=f(n), log_scales=f(n, 3),
                      quats=f(n, 4), sh_rest=f(n, bands, 3), normals=f(n, 3),
                      part=rng.integers(0, 28, n).astype(np.uint8) if labelled else None,
                      part_conf=rng.random(n).astype(np.float32) if labelled else None)
    def rigged(n, j):
        s = splats(n, 0, True)
        w = rng.random((n, 4)).astype(np.float32) + np.float32(0.01)
        w /= w.sum(1, keepdims=True)
        parents = np.array([-1] + [int(rng.integers(0, i)) for i in range(1, j)], np.int32)
        s.skeleton = Skeleton(tuple(f"j{i}" for i in range(j)), parents,
                              rng.normal(size=(j, 3)).astype(np.float32))
        s.skin_joints = rng.integers(0, j, (n, 4)).astype(np.uint8)
        s.skin_weights = w
        return s
    lgm = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1",
           "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    lgm_head = ["ply", "format binary_big_endian 1.0", "element face 2",
                "property uchar q", "element vertex 6"] + [f"property float {p}" for p in lgm]
    SEEDS = [
        splatfile.dumps(splats(20, 3, True)),
        splatfile.dumps(splats(7, 0, False)),
        splatfile.dumps(rigged(12, 6)),
        ("\n".join(lgm_head + ["end_header"]) + "\n").encode() + bytes(2)
        + np.ones((6, 14), ">f4").tobytes(),
    ]
    NUMBERS = st.one_of(
        st.integers(0, 40).map(str), st.integers(0, 2**64).map(str),
        st.integers(-5, -1).map(str), st.integers(1, 6000).map(lambda k: "9" * k),
    )
    WORDS = st.sampled_from(["vertex", "face", "float", "uchar", "double", "int", "list",
                             "part", "comment", "element", "property", "end_header", "x",
                             "f_rest_0", "part_conf", "format", "ascii", "\xb2", "", "  ",
                             "joint", "skin_joint_0", "skin_weight_3", "-1", "1e999", "nan"])
    JOINT_LINE = NUMBERS.map(lambda n: f"comment joint {n} j 0 0 0 1")
    LINE = st.lists(st.one_of(WORDS, NUMBERS), min_size=0, max_size=6).map(" ".join)

    @st.composite
    def mutated(draw):
        data = draw(st.sampled_from(SEEDS))
        end = data.index(b"end_header\n") + len(b"end_header\n")
        lines, body = data[:end].decode().split("\n")[:-1], bytearray(data[end:])
        for _ in range(draw(st.integers(0, 4))):
            i = draw(st.integers(0, len(lines) - 1))
            op = draw(st.sampled_from(["number", "replace", "insert", "delete", "dup"]))
            if op == "number":
                words = lines[i].split()
                if words:
                    words[draw(st.integers(0, len(words) - 1))] = draw(NUMBERS)
                    lines[i] = " ".join(words)
            elif op == "replace":
                lines[i] = draw(LINE)
            elif op == "insert":
                lines.insert(i, draw(st.one_of(LINE, NUMBERS.map(lambda n: "comment part " + n),
                                               NUMBERS.map(lambda n: "element vertex " + n),
                                               JOINT_LINE, LINE.map("comment joint ".__add__))))
            elif op == "delete" and len(lines) > 1:
                del lines[i]
            elif op == "dup":
                lines.insert(i, lines[i])
        for _ in range(draw(st.integers(0, 6))):
            if body:
                body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
        if draw(st.booleans()):
            body = body[: draw(st.integers(0, len(body)))]
        if draw(st.integers(0, 4)) == 0:
            body += draw(st.binary(max_size=200))
        return ("\n".join(lines) + "\n").encode("latin-1") + bytes(body)

    used_mb = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize() >> 20
    limit = (used_mb + int(sys.argv[2])) << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    outcome = {"read": 0, "refused": 0, "slowest": 0.0}

    @settings(max_examples=int(sys.argv[1]), deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(mutated())
    def fuzz(data):
        start = time.perf_counter()
        try:
            s = splatfile.loads(data)
            assert isinstance(s, Splats) and len(s) <= splatfile.MAX_SPLATS
            outcome["read"] += 1
        except SplatFileError as e:
            assert str(e) and "\n" not in str(e) and len(str(e)) < 400, repr(str(e))
            outcome["refused"] += 1
        outcome["slowest"] = max(outcome["slowest"], time.perf_counter() - start)

    fuzz()
    print(outcome)
    assert outcome["read"] > 0 and outcome["refused"] > 0, outcome
    assert outcome["slowest"] < 2.0, outcome
    """
)


@pytest.mark.timeout(120)
def test_fuzzed_files_read_or_fail_clearly_in_bounded_memory() -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(EXAMPLES), str(HEADROOM_MB)],
        capture_output=True,
        text=True,
        timeout=110,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "'read'" in proc.stdout
