"""Learning-rate schedulers against their closed forms."""
from __future__ import annotations

import math

import pytest

import minitorch as mt
from minitorch import nn, optim
from minitorch.optim.lr_scheduler import CosineAnnealingLR, StepLR


def make_opt(lr=0.1):
    return optim.SGD([nn.Parameter(mt.zeros(1))], lr=lr)


def lrs(opt, sched, epochs):
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
        opt.step()
        sched.step()
    return out


def test_step_lr():
    opt = make_opt(0.1)
    got = lrs(opt, StepLR(opt, step_size=3, gamma=0.5), 10)
    assert got == pytest.approx([0.1 * 0.5 ** (e // 3) for e in range(10)])


def test_cosine_annealing():
    opt = make_opt(0.1)
    got = lrs(opt, CosineAnnealingLR(opt, T_max=5, eta_min=0.01), 12)
    assert got == pytest.approx([0.01 + 0.09 * (1 + math.cos(math.pi * e / 5)) / 2 for e in range(12)])
    assert got[5] == pytest.approx(0.01) and got[10] == pytest.approx(0.1)  # periodic beyond T_max, as PyTorch


def test_per_group_base_lrs():
    a, b = nn.Parameter(mt.zeros(1)), nn.Parameter(mt.zeros(1))
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    sched = StepLR(opt, step_size=1, gamma=0.1)
    sched.step()
    assert sched.get_last_lr() == pytest.approx([0.01, 0.1])


def test_state_dict_round_trip(tmp_path):
    opt = make_opt()
    sched = CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    mt.save({"sched": sched.state_dict(), "opt": opt.state_dict()}, tmp_path / "s.npz")
    ckpt = mt.load(tmp_path / "s.npz")
    opt2 = make_opt()
    opt2.load_state_dict(ckpt["opt"])
    sched2 = CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(ckpt["sched"])
    assert sched2.last_epoch == 4
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr() == [opt2.param_groups[0]["lr"]]


def test_validation():
    with pytest.raises(ValueError, match="step_size"):
        StepLR(make_opt(), step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        CosineAnnealingLR(make_opt(), T_max=0)
    with pytest.raises(TypeError, match="not an Optimizer"):
        StepLR(object(), step_size=1)
