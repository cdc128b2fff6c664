"""The multi-tensor optimizer kernels' options (AMSGrad, maximize, dampening) and Adagrad / Adadelta, run on the
CPU by the emulator against their array-API references; and the optimizers driving the emulated kernels."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import minitorch as mt
from minitorch import kernels, optim
from minitorch.selftest import check_adadelta, check_adagrad, check_adam, check_sgd

if shutil.which("g++") is None:
    pytest.skip("g++ not on PATH: the emulator compiles kernels with it", allow_module_level=True)
try:
    from minitorch.kernels.emulator import EmulatedModule  # noqa: F401
except ImportError as exc:
    pytest.skip(f"CUDA emulator unavailable: {exc}", allow_module_level=True)

SIZES = [1, 33, 7, 0, 4100]  # an empty tensor, and one spanning two 4096-element chunks


@pytest.fixture(scope="module")
def k():
    return kernels.emulated_kernels()


def assert_all_ok(results):
    bad = [r for r in results if not r.ok]
    assert not bad, "; ".join(f"{r.name}: max err {r.max_err:.3g}" for r in bad)


@pytest.mark.parametrize("decoupled", [False, True], ids=["adam", "adamw"])
@pytest.mark.parametrize("amsgrad,maximize", [(True, False), (False, True), (True, True)])
def test_adam_options(k, decoupled, amsgrad, maximize):
    assert_all_ok(check_adam(k, np, SIZES, decoupled=decoupled, weight_decay=0.05, steps=3, amsgrad=amsgrad,
                             maximize=maximize, beta2=0.5))


@pytest.mark.parametrize("dampening,nesterov", [(0.3, False), (1.0, False), (0.0, True)])
@pytest.mark.parametrize("maximize", [False, True])
def test_sgd_options(k, dampening, nesterov, maximize):
    assert_all_ok(check_sgd(k, np, SIZES, momentum=0.9, nesterov=nesterov, weight_decay=0.01, steps=3,
                            dampening=dampening, maximize=maximize))


def test_sgd_maximize_without_momentum(k):
    assert_all_ok(check_sgd(k, np, SIZES, momentum=0.0, nesterov=False, weight_decay=0.01, maximize=True))


@pytest.mark.parametrize("lr_decay,weight_decay,maximize", [(0.0, 0.0, False), (0.1, 0.05, False), (0.01, 0.0, True)])
def test_adagrad(k, lr_decay, weight_decay, maximize):
    assert_all_ok(check_adagrad(k, np, SIZES, lr_decay=lr_decay, weight_decay=weight_decay, maximize=maximize))


@pytest.mark.parametrize("rho,weight_decay,maximize", [(0.9, 0.0, False), (0.5, 0.05, True), (0.0, 0.0, False)])
def test_adadelta(k, rho, weight_decay, maximize):
    assert_all_ok(check_adadelta(k, np, SIZES, rho=rho, weight_decay=weight_decay, maximize=maximize))


def test_amsgrad_keeps_the_running_maximum(k):
    """A large gradient then small ones: max_exp_avg_sq stays at the first step's exp_avg_sq."""
    p, m, v, vmax = (np.zeros(5, np.float32) for _ in range(4))
    for step, scale in enumerate([10.0, 0.1, 0.1], start=1):
        g = np.full(5, scale, np.float32)
        k.adam_step([p], [g], [m], [v], [vmax], step=step, lr=0.1, beta1=0.9, beta2=0.5, eps=1e-8, weight_decay=0.0,
                    decoupled=False, amsgrad=True)
    np.testing.assert_allclose(vmax, 0.5 * 100.0, rtol=1e-6)
    assert (v < vmax).all()


class _EmulatedBackend:
    """The numpy backend with the emulated kernels as its `kernels` (what cupy's backend does with the real ones)."""

    def __init__(self, base):
        self._base = base

    def __getattr__(self, name):
        return kernels.emulated_kernels() if name == "kernels" else getattr(self._base, name)


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01, weight_decay=0.01),
    lambda ps: optim.Adadelta(ps, lr=0.5, maximize=True),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5),
    lambda ps: optim.AdamW(ps, lr=0.05, amsgrad=True),
], ids=["adagrad", "adadelta", "sgd-dampening", "adamw-amsgrad"])
def test_optimizers_through_the_emulated_kernels(make, monkeypatch):
    """optim.X drives the fused launcher (a parameter missing its grad on one step included) like the reference."""
    monkeypatch.setenv("MINITORCH_FUSED", "1")
    rng = np.random.default_rng(0)
    init = [rng.normal(size=(3, 5)).astype(np.float32), rng.normal(size=5000).astype(np.float32)]
    grads = [[rng.normal(size=a.shape).astype(np.float32) for a in init] for _ in range(4)]
    finals = []
    for emulated in (False, True):
        ps = [mt.tensor(a.copy(), requires_grad=True) for a in init]
        if emulated:
            for p in ps:
                object.__setattr__(p, "backend", _EmulatedBackend(p.backend))
        opt = make(ps)
        for i, gs in enumerate(grads):
            for j, (p, g) in enumerate(zip(ps, gs)):
                p.grad = None if (i == 1 and j == 0) else mt.tensor(g.copy())
            opt.step()
        finals.append([p.array.copy() for p in ps])
    for a, b in zip(*finals):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)  # float32 on O(1) values: a few ulp apart
