"""Convolution and pooling (forward+backward) and the training step of PyTorch's MNIST example CNN, per framework.

The CNN is examples/mnist of pytorch/examples: Conv2d(1,32,3) -> ReLU -> Conv2d(32,64,3) -> ReLU -> MaxPool2d(2)
-> Dropout(0.25) -> Flatten -> Linear(9216,128) -> ReLU -> Dropout(0.5) -> Linear(128,10), log_softmax + nll_loss,
Adadelta(lr=1.0), batch 64. Peers: PyTorch CPU eager and, when `import jax` works, the same step under jax.jit.
"""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim
from minitorch.nn import functional as F
from harness import backend_label, measure, minitorch_devices, minitorch_sync, torch_devices, torch_sync

BATCH = 64
CONV_X, CONV_W = (64, 32, 26, 26), (64, 32, 3, 3)  # the second conv of the MNIST example at batch 64
POOL_X = (64, 64, 24, 24)


def _jax_available() -> bool:
    try:
        import jax  # noqa: F401
    except Exception:  # ImportError, or a jaxlib that does not load on this CPU
        return False
    return True


def _peers(minitorch_variants: tuple[str, ...], jax: bool = False) -> list:
    """(framework, device, variant) cases, adjacent so that their ratios share one machine load."""
    cases = [("minitorch", d, v) for d in minitorch_devices() for v in minitorch_variants]
    cases += [("torch", d, "eager") for d in torch_devices()]
    if jax:
        cases.append(("jax", "cpu", "jit"))
    return [pytest.param(*c, id="-".join(c)) for c in cases]


def _info(kind, op, framework, dev, variant, **extra):
    return dict(kind=kind, op=op, framework=framework, backend=backend_label(framework, dev), device=dev,
                variant=variant, **extra)


def _set_variant(monkeypatch, variant):
    # "fused": the NumPy fast paths (channels-last im2col, per-tap dx GEMMs); "composed": the array-API path
    # that the strict and CuPy backends run.
    monkeypatch.setenv("MINITORCH_FUSED", "0" if variant == "composed" else "1")


@pytest.mark.parametrize("framework,dev,variant", _peers(("fused", "composed")))
def test_conv2d_forward_backward(benchmark, monkeypatch, framework, dev, variant):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(CONV_X, dtype=np.float32), rng.standard_normal(CONV_W, dtype=np.float32) * 0.05
    b = np.zeros(CONV_W[0], np.float32)
    g = rng.standard_normal((64, 64, 24, 24), dtype=np.float32)
    if framework == "minitorch":
        _set_variant(monkeypatch, variant)
        tx, tw, tb = (mt.tensor(a, device=dev, requires_grad=True) for a in (x, w, b))
        tg = mt.tensor(g, device=dev)

        def step():
            F.conv2d(tx, tw, tb).backward(tg)
        sync = minitorch_sync(dev)
    else:
        torch = pytest.importorskip("torch")
        tx, tw, tb = (torch.from_numpy(a).to(dev).requires_grad_() for a in (x, w, b))
        tg = torch.from_numpy(g).to(dev)

        def step():
            torch.nn.functional.conv2d(tx, tw, tb).backward(tg)
        sync = torch_sync(dev)
    flops = 3 * 2.0 * 64 * 24 * 24 * 64 * 32 * 9  # forward, dW and dx GEMMs
    measure(benchmark, step, sync, batch=BATCH, flops=flops,
            **_info("op", "conv2d fwd+bwd", framework, dev, variant, shape="64x32x26x26 * 64x32x3x3"))


@pytest.mark.parametrize("framework,dev,variant", _peers(("fused", "composed")))
def test_max_pool2d_forward_backward(benchmark, monkeypatch, framework, dev, variant):
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal(POOL_X, dtype=np.float32), 0)  # post-ReLU: many ties at 0
    g = rng.standard_normal((64, 64, 12, 12), dtype=np.float32)
    if framework == "minitorch":
        _set_variant(monkeypatch, variant)
        tx, tg = mt.tensor(x, device=dev, requires_grad=True), mt.tensor(g, device=dev)

        def step():
            F.max_pool2d(tx, 2).backward(tg)
        sync = minitorch_sync(dev)
    else:
        torch = pytest.importorskip("torch")
        tx, tg = torch.from_numpy(x).to(dev).requires_grad_(), torch.from_numpy(g).to(dev)

        def step():
            torch.nn.functional.max_pool2d(tx, 2).backward(tg)
        sync = torch_sync(dev)
    measure(benchmark, step, sync, batch=BATCH,
            **_info("op", "max_pool2d fwd+bwd", framework, dev, variant, shape="64x64x24x24 k=2"))


# ---------------------------------------------------------------- the MNIST example's training step

LAYERS = ["conv1-32", "conv32-64", "pool", "fc9216-128", "fc128-10"]


def _step_flops(batch: int) -> float:
    """GEMM FLOPs: conv1 forward + dW (its input needs no grad), conv2 forward + dW + dx, 3 per Linear."""
    conv1 = 2.0 * batch * 26 * 26 * 32 * 9
    conv2 = 2.0 * batch * 24 * 24 * 64 * 32 * 9
    fc = 2.0 * batch * (9216 * 128 + 128 * 10)
    return 2 * conv1 + 3 * conv2 + 3 * fc


def _batch():
    rng = np.random.default_rng(0)
    return rng.standard_normal((BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, BATCH)


def _minitorch_step(x, y, dev):
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(128, 10)).to(dev)
    opt = optim.Adadelta(model.parameters(), lr=1.0)
    tx, ty = mt.tensor(x, device=dev), mt.tensor(y, device=dev)

    def step():
        loss = F.nll_loss(F.log_softmax(model(tx), dim=1), ty)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, minitorch_sync(dev)


def _torch_step(x, y, dev):
    torch = pytest.importorskip("torch")
    T = torch.nn
    model = T.Sequential(T.Conv2d(1, 32, 3), T.ReLU(), T.Conv2d(32, 64, 3), T.ReLU(), T.MaxPool2d(2),
                         T.Dropout(0.25), T.Flatten(), T.Linear(9216, 128), T.ReLU(), T.Dropout(0.5),
                         T.Linear(128, 10)).to(dev)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    tx, ty = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)

    def step():
        loss = torch.nn.functional.nll_loss(torch.log_softmax(model(tx), dim=1), ty)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, torch_sync(dev)


def _jax_step(x, y):
    """The same network, loss and Adadelta (PyTorch's update rule) as one jax.jit-compiled function."""
    import jax
    import jax.numpy as jnp

    def init(key):
        def layer(key, w_shape, fan_in):
            k1, k2 = jax.random.split(key)
            bound = 1 / np.sqrt(fan_in)
            return (jax.random.uniform(k1, w_shape, jnp.float32, -bound, bound),
                    jax.random.uniform(k2, (w_shape[0],), jnp.float32, -bound, bound))
        keys = jax.random.split(key, 4)
        return [layer(keys[0], (32, 1, 3, 3), 9), layer(keys[1], (64, 32, 3, 3), 288),
                layer(keys[2], (128, 9216), 9216), layer(keys[3], (10, 128), 128)]

    def dropout(key, a, p):
        return jnp.where(jax.random.bernoulli(key, 1 - p, a.shape), a / (1 - p), 0.0)

    def loss_fn(params, key, xb, yb):
        (w1, b1), (w2, b2), (w3, b3), (w4, b4) = params
        k1, k2 = jax.random.split(key)
        conv = lambda a, w: jax.lax.conv_general_dilated(a, w, (1, 1), "VALID",  # noqa: E731
                                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
        a = jax.nn.relu(conv(xb, w1) + b1[None, :, None, None])
        a = jax.nn.relu(conv(a, w2) + b2[None, :, None, None])
        a = jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        a = dropout(k1, a, 0.25).reshape(a.shape[0], -1)
        a = dropout(k2, jax.nn.relu(a @ w3.T + b3), 0.5)
        logp = jax.nn.log_softmax(a @ w4.T + b4, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    @jax.jit
    def train_step(params, sq, acc, key, xb, yb):
        key, sub = jax.random.split(key)
        grads = jax.grad(loss_fn)(params, sub, xb, yb)
        rho, eps, lr = 0.9, 1e-6, 1.0

        def update(p, g, s, a):
            s = rho * s + (1 - rho) * g * g
            delta = jnp.sqrt(a + eps) / jnp.sqrt(s + eps) * g
            return p - lr * delta, s, rho * a + (1 - rho) * delta * delta
        flat = jax.tree_util.tree_map(update, params, grads, sq, acc)
        new = jax.tree_util.tree_transpose(jax.tree_util.tree_structure(params),
                                           jax.tree_util.tree_structure((0, 0, 0)), flat)
        return (*new, key)

    params = init(jax.random.PRNGKey(0))
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = [params, zeros, zeros, jax.random.PRNGKey(1)]
    xb, yb = jnp.asarray(x), jnp.asarray(y)

    def step():
        state[:] = train_step(*state, xb, yb)

    def sync():
        jax.block_until_ready(state[0])
    return step, sync


@pytest.mark.parametrize("framework,dev,variant", _peers(("fused", "composed"), jax=_jax_available()))
def test_mnist_cnn_train_step(benchmark, monkeypatch, framework, dev, variant):
    x, y = _batch()
    if framework == "minitorch":
        _set_variant(monkeypatch, variant)
        step, sync = _minitorch_step(x, y, dev)
    elif framework == "torch":
        step, sync = _torch_step(x, y, dev)
    else:
        step, sync = _jax_step(x, y)
    measure(benchmark, step, sync, batch=BATCH, flops=_step_flops(BATCH), kind="train", op="train_step",
            framework=framework, backend=backend_label(framework, dev), device=dev, variant=variant,
            width="mnist-cnn", layers=LAYERS, optimizer="adadelta", shape=f"mnist-cnn B={BATCH}")
