"""Adagrad, Adadelta and the options SGD(dampening, maximize), Adam/AdamW(amsgrad, maximize), RMSprop(maximize)
against PyTorch: parameter trajectories (float64 and float32, "cpu" and "strict"), state-dict layout and resume,
loading PyTorch's state dict, the errors both raise; and nn.utils.clip_grad_value_."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of these tests (pip install -e '.[torch]')")

import minitorch as mt  # noqa: E402
from minitorch import nn  # noqa: E402

torch.set_num_threads(1)
STEPS = 12
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-4, atol=2e-5)}
RNG = np.random.default_rng(0)
DATA = {"x": RNG.normal(size=(6, 4)), "y": RNG.normal(size=(6, 3)), "w": RNG.normal(size=(4, 3)) * 0.5,
        "b": RNG.normal(size=(3,)) * 0.1}

# name -> (optimizer, defaults, overrides of the second group (b))
CONFIGS = {
    "Adagrad": ("Adagrad", dict(lr=0.1), {}),
    "Adagrad-all": ("Adagrad", dict(lr=0.2, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3,
                                    eps=1e-6), dict(lr_decay=0.3)),
    "Adagrad-maximize": ("Adagrad", dict(lr=0.05, maximize=True), dict(maximize=False, weight_decay=0.2)),
    "Adadelta": ("Adadelta", dict(), {}),
    "Adadelta-all": ("Adadelta", dict(lr=0.5, rho=0.7, eps=1e-4, weight_decay=0.1), dict(rho=0.95)),
    "Adadelta-maximize": ("Adadelta", dict(lr=0.3, maximize=True), dict(rho=0.0)),
    "SGD-dampening": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5), dict(dampening=0.2)),
    "SGD-dampening-wd-maximize": ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1, maximize=True),
                                  dict(dampening=1.0)),
    "SGD-nesterov-maximize": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True), dict(momentum=0.5)),
    "SGD-maximize": ("SGD", dict(lr=0.05, maximize=True), dict(weight_decay=0.1)),
    "Adam-amsgrad": ("Adam", dict(lr=0.05, amsgrad=True), dict(betas=(0.5, 0.6))),
    "Adam-amsgrad-wd-maximize": ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1, maximize=True),
                                 dict(amsgrad=False)),
    "AdamW-amsgrad-maximize": ("AdamW", dict(lr=0.05, amsgrad=True, maximize=True), dict(weight_decay=0.5)),
    "RMSprop-maximize": ("RMSprop", dict(lr=0.01, maximize=True), dict(centered=True, momentum=0.5)),
}


class Run:
    """One library's optimizer on the same tiny regression; b gets no gradient on every third step."""

    def __init__(self, lib, config, dtype: str, device: str | None = None) -> None:
        kw = {} if device is None else {"device": device}
        arrays = {k: v.astype(dtype) for k, v in DATA.items()}
        self.lib = lib
        self.x, self.y = lib.tensor(arrays["x"], **kw), lib.tensor(arrays["y"], **kw)
        self.w = lib.tensor(arrays["w"], requires_grad=True, **kw)
        self.b = lib.tensor(arrays["b"], requires_grad=True, **kw)
        name, defaults, override = config
        self.opt = getattr(lib.optim, name)([{"params": [self.w]}, {"params": [self.b], **override}], **defaults)
        self.count = 0

    def step(self) -> None:
        self.count += 1
        self.opt.zero_grad()
        (((self.x @ self.w + self.b).tanh() - self.y) ** 2).mean().backward()
        if self.count % 3 == 0:
            self.b.grad = None  # a parameter that falls behind: per-parameter step counts and first steps
        self.opt.step()

    def params(self) -> list[np.ndarray]:
        return [p.detach().numpy().copy() for p in (self.w, self.b)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS)
def test_trajectory_matches_torch(device, config, dtype):
    ref, got = Run(torch, CONFIGS[config], dtype), Run(mt, CONFIGS[config], dtype, device)
    for step in range(1, STEPS + 1):
        ref.step()
        got.step()
        for name, a, b in zip("wb", got.params(), ref.params()):
            assert str(a.dtype) == dtype
            np.testing.assert_allclose(a, b, **TOL[dtype], err_msg=f"{config}: {name} after step {step}")


def to_numpy(obj):
    """A PyTorch state dict with every tensor as a NumPy array (what a minitorch checkpoint could hold)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().numpy().copy()
    if isinstance(obj, dict):
        return {k: to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_numpy(v) for v in obj)
    return obj


@pytest.mark.parametrize("config", CONFIGS)
def test_state_dict_round_trip_and_layout(config, tmp_path):
    """Resume after 5 steps (saved with mt.save) equals the uninterrupted run, bit for bit; the state has
    PyTorch's names; and PyTorch's own state dict, loaded here, continues PyTorch's trajectory."""
    whole = Run(mt, CONFIGS[config], "float64")
    for _ in range(STEPS):
        whole.step()
    first = Run(mt, CONFIGS[config], "float64")
    for _ in range(5):
        first.step()
    mt.save({"opt": first.opt.state_dict(), "w": first.w.detach(), "b": first.b.detach()}, tmp_path / "c.npz")
    ckpt = mt.load(tmp_path / "c.npz")
    second = Run(mt, CONFIGS[config], "float64")
    second.w.data.copy_(ckpt["w"])
    second.b.data.copy_(ckpt["b"])
    second.opt.load_state_dict(ckpt["opt"])
    second.count = 5
    for _ in range(STEPS - 5):
        second.step()
    for a, b in zip(second.params(), whole.params()):
        np.testing.assert_array_equal(a, b)

    ref = Run(torch, CONFIGS[config], "float64")
    for _ in range(5):
        ref.step()
    mine, theirs = first.opt.state_dict(), ref.opt.state_dict()
    assert {k: set(v) for k, v in mine["state"].items()} == {k: set(v) for k, v in theirs["state"].items()}
    for k, entry in mine["state"].items():
        for name, value in entry.items():
            want = theirs["state"][k][name]
            if name == "step":
                assert float(value) == float(want)
            else:
                np.testing.assert_allclose(value.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
    # Each group holds PyTorch's keys, less those naming PyTorch's implementation choices.
    impl = {"foreach", "fused", "differentiable", "capturable", "decoupled_weight_decay"}
    assert [set(g) for g in mine["param_groups"]] == [set(g) - impl for g in theirs["param_groups"]]
    cross = Run(mt, CONFIGS[config], "float64")
    cross.w.data.copy_(mt.tensor(ref.w.detach().numpy()))
    cross.b.data.copy_(mt.tensor(ref.b.detach().numpy()))
    cross.opt.load_state_dict(to_numpy(theirs))
    cross.count = ref.count
    for _ in range(STEPS - 5):
        cross.step()
        ref.step()
    for a, b in zip(cross.params(), ref.params()):
        np.testing.assert_allclose(a, b, **TOL["float64"])


def test_adagrad_state_exists_before_the_first_step():
    p = [nn.Parameter(mt.zeros(2, 3)), nn.Parameter(mt.zeros(4))]
    opt = mt.optim.Adagrad(p, initial_accumulator_value=0.25)
    ref = torch.optim.Adagrad([torch.zeros(2, 3, requires_grad=True), torch.zeros(4, requires_grad=True)],
                              initial_accumulator_value=0.25)
    mine, theirs = opt.state_dict()["state"], ref.state_dict()["state"]
    assert list(mine) == list(theirs) == [0, 1]
    for k in mine:
        assert mine[k]["step"] == float(theirs[k]["step"]) == 0
        np.testing.assert_array_equal(mine[k]["sum"].numpy(), theirs[k]["sum"].numpy())


BAD = [
    ("Adagrad", dict(lr=-0.1)), ("Adagrad", dict(lr_decay=-1.0)), ("Adagrad", dict(weight_decay=-1e-3)),
    ("Adagrad", dict(initial_accumulator_value=-0.1)), ("Adagrad", dict(eps=-1e-10)),
    ("Adadelta", dict(lr=-1.0)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(rho=-0.1)),
    ("Adadelta", dict(eps=-1e-6)), ("Adadelta", dict(weight_decay=-0.1)),
    ("SGD", dict(lr=0.1, nesterov=True, momentum=0.9, dampening=0.1)), ("SGD", dict(lr=0.1, nesterov=True)),
    ("SGD", dict(lr=-0.1, maximize=True)),
    ("Adam", dict(lr=-1.0, amsgrad=True)), ("AdamW", dict(betas=(0.9, 1.0), amsgrad=True)),
    ("RMSprop", dict(eps=-1.0, maximize=True)),
]


@pytest.mark.parametrize("name,kw", BAD, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in BAD])
def test_invalid_hyperparameters_raise_like_torch(name, kw):
    for lib in (torch, mt):
        with pytest.raises(ValueError):
            getattr(lib.optim, name)([lib.zeros(1, requires_grad=True)], **kw)


def test_valid_edges_accepted_like_torch():
    for lib in (torch, mt):
        p = [lib.zeros(1, requires_grad=True)]
        lib.optim.Adadelta(p, rho=0.0)
        lib.optim.Adadelta(p, rho=1.0)
        lib.optim.SGD(p, lr=0.1, momentum=0.9, dampening=1.0)
        lib.optim.Adagrad(p, lr=0.0, eps=0.0)


def test_defaults_match_torch():
    for name in ("Adagrad", "Adadelta", "SGD", "Adam", "AdamW", "RMSprop"):
        mine = getattr(mt.optim, name)([mt.zeros(1, requires_grad=True)]).defaults
        theirs = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)]).defaults
        assert {k: theirs[k] for k in mine} == mine, name


# -- clip_grad_value_ ------------------------------------------------------------------------------
@pytest.mark.parametrize("clip", [0.5, 2.0, 0.0, -0.3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_grad_value_matches_torch(device, clip, dtype):
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=(3, 4)) * 2, rng.normal(size=(5,)), None, np.array([np.nan, -np.inf, np.inf, 0.1])]
    mine, theirs = [], []
    for g in grads:
        shape = (4,) if g is None else g.shape
        a = mt.zeros(*shape, dtype=getattr(mt, dtype), device=device, requires_grad=True)
        b = torch.zeros(*shape, dtype=getattr(torch, dtype), requires_grad=True)
        if g is not None:
            a.grad = mt.tensor(g.astype(dtype), device=device)
            b.grad = torch.tensor(g.astype(dtype))
        mine.append(a)
        theirs.append(b)
    assert mt.nn.utils.clip_grad_value_(mine, clip) is None
    torch.nn.utils.clip_grad_value_(theirs, clip)
    for a, b in zip(mine, theirs):
        if b.grad is None:
            assert a.grad is None
            continue
        assert str(a.grad.dtype).endswith(dtype)
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_clip_grad_value_single_tensor():
    p = nn.Parameter(mt.zeros(3))
    p.grad = mt.tensor([-5.0, 0.5, 5.0])
    mt.nn.utils.clip_grad_value_(p, 1)
    np.testing.assert_array_equal(p.grad.numpy(), [-1.0, 0.5, 1.0])
