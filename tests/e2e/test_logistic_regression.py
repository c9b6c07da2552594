"""Kompute's logistic-regression example (v0.9 API): 100 evaluations of one recorded
sequence, with host writes to w and b between them."""
import numpy as np
import pytest

import kp
from shaders import LOGISTIC_REGRESSION


@pytest.mark.parametrize("weights_type", [kp.TensorTypes.device, kp.TensorTypes.host])
def test_logistic_regression(mgr, weights_type):
    x_i = mgr.tensor([0, 1, 1, 1, 1])
    x_j = mgr.tensor([0, 0, 0, 1, 1])
    y = mgr.tensor([0, 0, 0, 1, 1])
    w_in = mgr.tensor([0.001, 0.001], weights_type)
    w_out_i, w_out_j = mgr.tensor(np.zeros(5)), mgr.tensor(np.zeros(5))
    b_in = mgr.tensor([0], weights_type)
    b_out, l_out = mgr.tensor(np.zeros(5)), mgr.tensor(np.zeros(5))
    params = [x_i, x_j, y, w_in, w_out_i, w_out_j, b_in, b_out, l_out]

    mgr.sequence().eval(kp.OpTensorSyncDevice(params))
    algo = mgr.algorithm(params, LOGISTIC_REGRESSION, spec_consts=[float(y.size())])
    seq = (mgr.sequence()
           .record(kp.OpTensorSyncDevice([w_in, b_in]))
           .record(kp.OpAlgoDispatch(algo))
           .record(kp.OpTensorSyncLocal([w_out_i, w_out_j, b_out, l_out])))

    learning_rate = 0.1
    for _ in range(100):
        seq.eval()
        for j in range(b_out.size()):
            w_in.data()[0] -= learning_rate * w_out_i.data()[j]
            w_in.data()[1] -= learning_rate * w_out_j.data()[j]
            b_in.data()[0] -= learning_rate * b_out.data()[j]

    assert 0.0 < w_in.data()[0] < 0.01
    assert w_in.data()[1] > 1.5
    assert b_in.data()[0] < 0.7
    assert np.all(l_out.data() >= 0)
