"""Kompute v0.8/0.9 style: multiply two arrays on the GPU held by kpd.

Run with kpd serving $KP_ADDRESS (or the default local socket):
    KP_ADDRESS=unix:/tmp/kpd.sock python array_multiplication.py
"""
import kp

SHADER = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer Lhs { float lhs[]; };
layout(set = 0, binding = 1) readonly buffer Rhs { float rhs[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float result[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    result[i] = lhs[i] * rhs[i];
}
"""

with kp.Manager() as mgr:
    lhs = mgr.tensor([2, 4, 6])
    rhs = mgr.tensor([0, 1, 2])
    out = mgr.tensor([0, 0, 0])
    algorithm = mgr.algorithm([lhs, rhs, out], SHADER)  # GLSL: the daemon compiles it
    (mgr.sequence()
        .record(kp.OpTensorSyncDevice([lhs, rhs]))
        .record(kp.OpAlgoDispatch(algorithm))
        .record(kp.OpTensorSyncLocal([out]))
        .eval())
    print(out.data())  # [ 0.  4. 12.]
