"""Optimizers against hand-computed updates, fused vs unfused, validation, accumulation, state_dict resume."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minitorch as mt
from minitorch import kernels, nn, optim
from minitorch.optim.optimizer import rule

GRADS = [np.array([0.5, -1.0, 2.0]), np.array([-0.3, 0.2, 1.0]), np.array([1.5, -0.7, -0.1])]
P0 = np.array([1.0, -2.0, 0.5])


def run(device, make_opt, grads=GRADS, p0=P0):
    """Apply len(grads) steps with the given gradients to one float64 parameter; return its values."""
    # .copy(): on "strict" mt.tensor(ndarray) currently aliases the array (a core bug, reported).
    p = nn.Parameter(mt.tensor(p0.copy(), device=device))
    opt = make_opt([p])
    out = []
    for g in grads:
        p.grad = mt.tensor(g.copy(), device=device)
        opt.step()
        out.append(p.detach().numpy().copy())
    return out


def scalar(make_opt, grads, p0=1.0):
    return [float(v[0]) for v in run("cpu", make_opt, [np.array([g]) for g in grads], np.array([p0]))]


# -- hand-computed scalar sequences --------------------------------------------------------------
def test_sgd_by_hand():
    assert scalar(lambda ps: optim.SGD(ps, lr=0.1), [1, 1]) == pytest.approx([0.9, 0.8])
    # momentum 0.9: buffers 1, 1.9, 2.71
    assert scalar(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), [1, 1, 1]) == pytest.approx([0.9, 0.71, 0.439])
    # nesterov: d = g + mu * buf = 1.9, then 2.71
    assert scalar(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), [1, 1]) == pytest.approx([0.81, 0.539])
    # coupled L2 decay with zero gradient: p *= 1 - lr * wd
    assert scalar(lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.1), [0, 0]) == pytest.approx([0.99, 0.9801])


def test_adam_by_hand():
    # With bias correction the first step moves every coordinate by lr * sign(g), whatever |g|.
    out = run("cpu", lambda ps: optim.Adam(ps, lr=0.1), GRADS[:1])[0]
    np.testing.assert_allclose(out, P0 - 0.1 * np.sign(GRADS[0]), rtol=1e-7)
    # g = 1 then 3: m = 0.1 -> 0.39, v = 0.001 -> 0.009999; bias corrections 1 - 0.9^2 and 1 - 0.999^2.
    p1 = 1.0 - 0.1 * 1.0 / (1.0 + 1e-8)
    m_hat, v_hat = 0.39 / (1 - 0.81), 0.009999 / (1 - 0.998001)
    expected = p1 - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8)
    assert scalar(lambda ps: optim.Adam(ps, lr=0.1), [1, 3])[1] == pytest.approx(expected, rel=1e-9)


def test_adamw_decay_is_decoupled():
    # Zero gradient: AdamW only shrinks p by (1 - lr * wd) per step ...
    assert scalar(lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.1), [0, 0]) == pytest.approx([0.99, 0.9801])
    # ... while Adam's coupled decay enters the gradient, so its first step is lr * sign(wd * p) = 0.1.
    assert scalar(lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1), [0])[0] == pytest.approx(0.9, rel=1e-6)
    assert optim.AdamW([nn.Parameter(mt.zeros(1))]).defaults["weight_decay"] == 1e-2


def test_rmsprop_by_hand():
    # s = 0.01 g^2, so step 1 is lr * g / (0.1 |g|) = 0.1 for lr = 0.01.
    assert scalar(lambda ps: optim.RMSprop(ps, lr=0.01), [1])[0] == pytest.approx(0.9, rel=1e-6)
    # centered: s - gbar^2 = 0.01 - 0.0001
    assert scalar(lambda ps: optim.RMSprop(ps, lr=0.01, centered=True), [1])[0] == \
        pytest.approx(1 - 0.01 / (math.sqrt(0.0099) + 1e-8))
    # momentum 0.5: buf = 10, then 0.5 * 10 + 1 / sqrt(0.0199)
    second = 1 - 0.1 - 0.01 * (5 + 1 / (math.sqrt(0.0199) + 1e-8))
    assert scalar(lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5), [1, 1]) == pytest.approx([0.9, second])


# -- reference loops for 3 steps on vectors (PyTorch's documented algorithms) --------------------
def ref_sgd(lr, momentum=0.0, weight_decay=0.0, nesterov=False):
    p, buf, out = P0.copy(), np.zeros(3), []
    for g in GRADS:
        d = g + weight_decay * p
        if momentum:
            buf = momentum * buf + d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
        out.append(p)
    return out


def ref_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    p, m, v, out = P0.copy(), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(GRADS, 1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        p = p - lr * (m / (1 - betas[0] ** t)) / (np.sqrt(v / (1 - betas[1] ** t)) + eps)
        out.append(p)
    return out


def ref_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    p, s, gbar, buf, out = P0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), []
    for g in GRADS:
        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g * g
        gbar = alpha * gbar + (1 - alpha) * g
        avg = np.sqrt(s - gbar ** 2 if centered else s) + eps
        buf = momentum * buf + g / avg
        p = p - lr * (buf if momentum else g / avg)
        out.append(p)
    return out


CASES = [
    (lambda ps: optim.SGD(ps, lr=0.1), ref_sgd(0.1)),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), ref_sgd(0.1, 0.9)),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), ref_sgd(0.1, 0.9, nesterov=True)),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, weight_decay=0.1), ref_sgd(0.1, 0.5, 0.1)),
    (lambda ps: optim.Adam(ps, lr=0.05), ref_adam(0.05)),
    (lambda ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.9), weight_decay=0.1), ref_adam(0.05, (0.8, 0.9), 1e-8, 0.1)),
    (lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.1), ref_adam(0.05, weight_decay=0.1, decoupled=True)),
    (lambda ps: optim.RMSprop(ps, lr=0.01), ref_rmsprop(0.01)),
    (lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.9, weight_decay=0.1), ref_rmsprop(0.01, 0.9, 1e-8, 0.1)),
    (lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.9, centered=True),
     ref_rmsprop(0.01, momentum=0.9, centered=True)),
]


@pytest.mark.parametrize("fused", ["1", "0"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_against_reference(device, case, fused, monkeypatch):
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    make_opt, expected = CASES[case]
    for got, want in zip(run(device, make_opt), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, make_opt", [
    ("sgd_step", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam_step", lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.01)),
    ("adam_step", lambda ps: optim.AdamW(ps, lr=0.01)),
])
def test_fused_and_unfused_agree(fast_device, name, make_opt, monkeypatch):
    calls = []
    real = getattr(kernels.reference, name)
    monkeypatch.setattr(kernels.reference, name, lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    results = {}
    for fused in ("1", "0"):
        monkeypatch.setenv("MINITORCH_FUSED", fused)
        mt.manual_seed(0)
        net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2)).to(fast_device)
        opt = make_opt(net.parameters())
        x, y = mt.randn(8, 6, device=fast_device), mt.randn(8, 2, device=fast_device)
        for _ in range(3):
            opt.zero_grad()
            nn.functional.mse_loss(net(x), y).backward()
            opt.step()
        results[fused] = [p.detach().numpy().copy() for p in net.parameters()]
        if fast_device == "cpu":  # the rule is written once: the CPU runs the reference, or Adam's loop when fused
            looped = fused == "1" and rule(mt.tensor(0.0).backend, name) is not getattr(kernels.reference, name)
            assert len(calls) == (0 if looped else 3)
            calls.clear()
    for a, b in zip(results["1"], results["0"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_params_without_grad_are_skipped(device):
    a, b = nn.Parameter(mt.ones(2, device=device)), nn.Parameter(mt.ones(2, device=device))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = mt.ones(2, device=device)
    opt.step()
    np.testing.assert_array_equal(b.detach().numpy(), [1, 1])
    assert b not in opt.state and opt.state[a]["step"] == 1
    b.grad = mt.ones(2, device=device)
    opt.step()  # a is at step 2, b at step 1: each gets its own bias correction
    np.testing.assert_allclose(b.detach().numpy(), [0.9, 0.9], rtol=1e-6)


def test_updates_are_in_place():
    p = nn.Parameter(mt.ones(3))
    data = p.array
    view = p.view(3)
    opt = optim.SGD([p], lr=0.5)
    p.grad = mt.ones(3)
    opt.step()
    assert p.array is data and p.is_leaf and p.grad_fn is None
    np.testing.assert_array_equal(view.detach().numpy(), [0.5, 0.5, 0.5])


@pytest.mark.parametrize("make, match", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "learning rate"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-1), "momentum"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "beta parameter at index 0"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), "beta parameter at index 1"),
    (lambda ps: optim.AdamW(ps, eps=-1e-8), "epsilon"),
    (lambda ps: optim.Adam(ps, weight_decay=-1), "weight_decay"),
    (lambda ps: optim.RMSprop(ps, alpha=-0.5), "alpha"),
    (lambda ps: optim.SGD([], lr=0.1), "empty parameter list"),
])
def test_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make([nn.Parameter(mt.zeros(1))])


def test_param_groups():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    opt = optim.SGD([{"params": net[0].parameters()}, {"params": net[1].parameters(), "lr": 0.5}], lr=0.1,
                    momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5] and opt.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [net[0].weight]})
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([net[0].weight * 2], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(net[0].weight, lr=0.1)
    opt.zero_grad()


def test_gradient_accumulation_matches_full_batch(device):
    mt.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).to(device).to(mt.float64)
    x, y = mt.randn(6, 4, dtype=mt.float64, device=device), mt.randn(6, 1, dtype=mt.float64, device=device)
    nn.functional.mse_loss(net(x), y).backward()
    full = [p.grad.detach().numpy().copy() for p in net.parameters()]
    net.zero_grad()
    for half in (slice(0, 3), slice(3, 6)):
        (nn.functional.mse_loss(net(x[half]), y[half]) / 2).backward()
    for p, g in zip(net.parameters(), full):
        np.testing.assert_allclose(p.grad.detach().numpy(), g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make_opt", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.01),
    lambda ps: optim.AdamW(ps, lr=0.01),
    lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
])
def test_state_dict_resumes_identically(device, make_opt, tmp_path):
    def setup():
        mt.manual_seed(0)
        net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)).to(device)
        return net, make_opt(net.parameters())

    x, y = mt.randn(5, 3, device=device), mt.randn(5, 1, device=device)

    def train(net, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.mse_loss(net(x), y).backward()
            opt.step()

    net, opt = setup()
    train(net, opt, 2)
    mt.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 2}, tmp_path / "ckpt.npz")
    train(net, opt, 2)
    ckpt = mt.load(tmp_path / "ckpt.npz", device=device)
    net2, opt2 = setup()
    net2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    train(net2, opt2, 2)
    for a, b in zip(net.parameters(), net2.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_state_dict_layout():
    p, q = nn.Parameter(mt.ones(2)), nn.Parameter(mt.ones(3))
    opt = optim.Adam([{"params": [p]}, {"params": [q], "lr": 0.5}])
    p.grad = mt.ones(2)
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1]
    assert list(sd["state"]) == [0] and set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    fresh = optim.Adam([{"params": [p]}, {"params": [q]}])
    fresh.load_state_dict(sd)
    assert fresh.param_groups[1]["lr"] == 0.5 and fresh.state[p]["step"] == 1
    assert fresh.state[p]["exp_avg"].array is not opt.state[p]["exp_avg"].array  # a copy, not shared
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([p]).load_state_dict(sd)
