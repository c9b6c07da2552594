"""A 16x8 workgroup grid: each invocation writes its own coordinates."""
import numpy as np

import kp

GRID = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) writeonly buffer X { float xs[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float ys[]; };
void main() {
    uint index = gl_WorkGroupID.x * gl_NumWorkGroups.y + gl_WorkGroupID.y;
    xs[index] = float(gl_GlobalInvocationID.x);
    ys[index] = float(gl_GlobalInvocationID.y);
}
"""


def test_16_by_8_grid(mgr):
    xs = mgr.tensor(np.zeros([16, 8]))
    ys = mgr.tensor(np.zeros([16, 8]))
    assert xs.size() == 128
    algo = mgr.algorithm([xs, ys], GRID, (16, 8, 1))
    assert algo.get_workgroup() == (16, 8, 1)
    mgr.sequence().record(kp.OpAlgoDispatch(algo)).record(kp.OpTensorSyncLocal([xs, ys])).eval()
    expected_x = np.stack([np.arange(16)] * 8, axis=1).ravel()
    expected_y = np.stack([np.arange(8)] * 16, axis=0).ravel()
    np.testing.assert_array_equal(xs.data(), expected_x)
    np.testing.assert_array_equal(ys.data(), expected_y)
