"""detect_anomaly names the first op whose forward or backward produced NaN/Inf, and the user's line."""
import math
import warnings

import pytest

import minitorch as mt


def test_backward_nan_names_the_op_and_the_line(device):
    x = mt.tensor([1.0, 0.0, 4.0], device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mt.autograd.detect_anomaly():
            y = x.sqrt()  # the line the error must name
            with pytest.raises(RuntimeError, match=r"SqrtBackward.*inf.*test_anomaly.py:\d+: y = x.sqrt\(\)"):
                (y * 2).sum().backward()


def test_forward_nan_names_the_op(device):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mt.autograd.detect_anomaly():
            with pytest.raises(RuntimeError, match="Log produced nan.*test_anomaly.py"):
                mt.tensor([-1.0], device=device).log()


def test_off_by_default_and_restored_on_exit(device):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mt.autograd.detect_anomaly():
            pass
        assert math.isnan(mt.tensor([-1.0], device=device).log().item())
