"""Optimizer and scheduler trajectories, step by step, against PyTorch's.

The same small problem (a tanh layer and a linear layer fit to random targets) is trained for 20 steps
by each library from the same initial parameters, with two parameter groups whose hyper-parameters
differ; after every step every parameter, and every group's lr, must agree. Runs with fused paths on
and off (MINITORCH_FUSED is read on each call).
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed; the differential tests compare minitorch "
                                            "against it (pip install -e '.[torch]')")

import minitorch as mt  # noqa: E402

torch.set_num_threads(1)  # tiny tensors: a thread pool only adds overhead

STEPS = 20
TOL = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=2e-4, atol=2e-5)}

CONFIGS = {
    "SGD": ("SGD", dict(lr=0.1), dict(lr=0.05)),
    "SGD-momentum": ("SGD", dict(lr=0.1, momentum=0.9), dict(momentum=0.5)),
    "SGD-nesterov": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True), dict(lr=0.02)),
    "SGD-weight_decay": ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.01), dict(weight_decay=0.1)),
    "Adam": ("Adam", dict(lr=0.01), dict(lr=0.03)),
    "Adam-betas-wd": ("Adam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1), dict(weight_decay=0.0)),
    "AdamW": ("AdamW", dict(lr=0.01), dict(lr=0.02)),
    "AdamW-wd": ("AdamW", dict(lr=0.01, weight_decay=0.1), dict(weight_decay=0.5, betas=(0.5, 0.6))),
    "RMSprop": ("RMSprop", dict(lr=0.01), dict(lr=0.005)),
    "RMSprop-centered": ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True), dict(eps=1e-4)),
    "RMSprop-momentum": ("RMSprop", dict(lr=0.01, momentum=0.9), dict(momentum=0.0)),
    "RMSprop-all": ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.01), dict(alpha=0.5)),
    "RMSprop-maximize": ("RMSprop", dict(lr=0.01, maximize=True), dict(maximize=False)),
    "SGD-dampening": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3), dict(dampening=0.0)),
    "SGD-nesterov-maximize": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True), dict(lr=0.02)),
    "Adam-amsgrad": ("Adam", dict(lr=0.01, amsgrad=True), dict(amsgrad=False, betas=(0.5, 0.6))),
    "AdamW-amsgrad-maximize": ("AdamW", dict(lr=0.01, amsgrad=True, maximize=True), dict(weight_decay=0.3)),
    "Adagrad": ("Adagrad", dict(lr=0.1), dict(lr=0.05)),
    "Adagrad-all": ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1),
                    dict(eps=1e-6, maximize=True)),
    "Adadelta": ("Adadelta", dict(), dict(lr=0.5)),
    "Adadelta-all": ("Adadelta", dict(lr=0.8, rho=0.8, weight_decay=0.05), dict(rho=0.95, maximize=True)),
}
SCHEDULERS = {
    "none": None,
    "StepLR": ("StepLR", dict(step_size=3, gamma=0.5)),
    "CosineAnnealingLR": ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    "MultiStepLR": ("MultiStepLR", dict(milestones=[3, 7, 7], gamma=0.5)),
    "OneCycleLR": ("OneCycleLR", dict(max_lr=0.05, total_steps=STEPS)),
}


def _problem(dtype: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x": rng.normal(size=(8, 4)), "y": rng.normal(size=(8, 3)), "w1": rng.normal(size=(4, 5)) * 0.5,
            "b1": rng.normal(size=(5,)) * 0.1, "w2": rng.normal(size=(5, 3)) * 0.5}


class Run:
    """One library's optimizer (and scheduler) on the problem; `step()` does one training step."""

    def __init__(self, lib, config: tuple, sched: tuple | None, dtype: str) -> None:
        arrays = {k: v.astype(dtype) for k, v in _problem(dtype).items()}
        self.lib = lib
        self.x, self.y = lib.tensor(arrays["x"]), lib.tensor(arrays["y"])
        self.params = [lib.tensor(arrays[k], requires_grad=True) for k in ("w1", "b1", "w2")]
        name, defaults, override = config
        groups = [{"params": self.params[:2]}, {"params": self.params[2:], **override}]
        self.opt = getattr(lib.optim, name)(groups, **defaults)
        self.sched = None if sched is None else getattr(lib.optim.lr_scheduler, sched[0])(self.opt, **sched[1])

    def step(self) -> None:
        w1, b1, w2 = self.params
        self.opt.zero_grad()
        loss = (((self.x @ w1 + b1).tanh() @ w2 - self.y) ** 2).mean()
        loss.backward()
        self.opt.step()
        if self.sched is not None:
            self.sched.step()

    def state(self) -> list[np.ndarray]:
        return [p.detach().numpy().copy() for p in self.params]

    def lrs(self) -> list[float]:
        return [g["lr"] for g in self.opt.param_groups]


# Every optimizer alone; schedulers on three of them.
CASES = [(c, "none") for c in CONFIGS] + [(c, s) for c in ("SGD-momentum", "Adam", "RMSprop-all")
                                          for s in SCHEDULERS if s != "none"]


@pytest.mark.parametrize("fused", ["1", "0"], ids=["fused", "unfused"])
@pytest.mark.parametrize("config,sched", CASES, ids=[f"{c}-{s}" for c, s in CASES])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_optimizer_trajectory(config: str, sched: str, fused: str, dtype: str, monkeypatch) -> None:
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    ref = Run(torch, CONFIGS[config], SCHEDULERS[sched], dtype)
    got = Run(mt, CONFIGS[config], SCHEDULERS[sched], dtype)
    assert got.lrs() == pytest.approx(ref.lrs(), rel=1e-12), "initial lrs differ"
    for step in range(1, STEPS + 1):
        ref.step()
        got.step()
        assert got.lrs() == pytest.approx(ref.lrs(), rel=1e-12), f"lrs differ after step {step}"
        for name, a, b in zip(("w1", "b1", "w2"), got.state(), ref.state()):
            assert str(a.dtype) == dtype, f"{name} became {a.dtype} after step {step}"
            np.testing.assert_allclose(a, b, **TOL[dtype], err_msg=f"{config}: {name} after step {step}")


@pytest.mark.parametrize("sched", ["StepLR", "CosineAnnealingLR", "MultiStepLR"])
def test_scheduler_lrs_without_training(sched: str) -> None:
    """The lr sequence alone, for 40 epochs (past CosineAnnealingLR's T_max), with two groups."""
    lrs = {}
    for lib in (torch, mt):
        p, q = lib.tensor([1.0], requires_grad=True), lib.tensor([2.0], requires_grad=True)
        opt = lib.optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.3}], lr=0.1)
        s = getattr(lib.optim.lr_scheduler, sched)(opt, **SCHEDULERS[sched][1])
        seq = []
        for _ in range(40):
            opt.step()
            s.step()
            seq.append(s.get_last_lr() + [g["lr"] for g in opt.param_groups])
        lrs[lib.__name__] = seq
    np.testing.assert_allclose(lrs["minitorch"], lrs["torch"], rtol=1e-12, atol=1e-15)
