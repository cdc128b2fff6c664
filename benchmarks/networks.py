"""The benchmark networks, built alike in minitorch and PyTorch, and their random data."""
from __future__ import annotations

from typing import Any

import numpy as np

# Layer widths; each hidden Linear is followed by BatchNorm1d -> ReLU -> Dropout, as in the workshop network.
WIDTHS = {"workshop": (784, 256, 10), "wide": (784, 1024, 1024, 10)}
BATCH_SIZES = (64, 256, 1024)
DROPOUT = 0.2
LR = 1e-3


def minitorch_mlp(sizes: tuple[int, ...], device: str = "cpu") -> Any:
    """Linear -> BatchNorm1d -> ReLU -> Dropout per hidden layer, then Linear (workshop_mlp for 784-256-10)."""
    from minitorch import nn
    from minitorch.training import workshop_mlp
    if tuple(sizes) == WIDTHS["workshop"]:
        return workshop_mlp(dropout=DROPOUT).to(device)
    layers: list[Any] = []
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(fan_in, fan_out), nn.BatchNorm1d(fan_out), nn.ReLU(), nn.Dropout(DROPOUT)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers).to(device)


def torch_mlp(sizes: tuple[int, ...], device: str = "cpu") -> Any:
    """The same layer pattern in PyTorch (its default init; initialisation does not change the step's cost)."""
    from torch import nn
    layers: list[Any] = []
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(fan_in, fan_out), nn.BatchNorm1d(fan_out), nn.ReLU(), nn.Dropout(DROPOUT)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers).to(device)


def random_batch(batch: int, features: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 inputs ~ N(0, 1) and int64 labels, identical for every framework."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, features), dtype=np.float32), rng.integers(0, classes, batch)


def step_flops(sizes: tuple[int, ...], batch: int) -> float:
    """GEMM FLOPs of one training step: 2*B*in*out per GEMM, three GEMMs per Linear, minus the input's dx."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return 2.0 * batch * (3 * sum(i * o for i, o in pairs) - pairs[0][0] * pairs[0][1])


def jax_mlp_step(sizes: tuple[int, ...], x: np.ndarray, y: np.ndarray, lr: float = LR) -> tuple[Any, Any]:
    """The same MLP step (BatchNorm in training with running statistics, inverted dropout, cross-entropy,
    PyTorch's Adam) as one jax.jit-compiled function; returns (step, sync)."""
    import jax
    import jax.numpy as jnp

    def init(key):
        params = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            key, k = jax.random.split(key)
            bound = np.sqrt(6.0 / fan_in)
            layer = {"w": jax.random.uniform(k, (fan_out, fan_in), jnp.float32, -bound, bound),
                     "b": jnp.zeros(fan_out, jnp.float32)}
            if i < len(sizes) - 2:
                layer.update(gamma=jnp.ones(fan_out, jnp.float32), beta=jnp.zeros(fan_out, jnp.float32))
            params.append(layer)
        return params

    def loss_fn(params, running, key, xb, yb):
        h, new_running = xb, []
        for layer, (rm, rv) in zip(params[:-1], running):
            key, k = jax.random.split(key)
            z = h @ layer["w"].T + layer["b"]
            mean, var = z.mean(0), z.var(0)
            n = z.shape[0]
            new_running.append((0.9 * rm + 0.1 * mean, 0.9 * rv + 0.1 * var * n / (n - 1)))
            z = (z - mean) / jnp.sqrt(var + 1e-5) * layer["gamma"] + layer["beta"]
            keep = jax.random.bernoulli(k, 1 - DROPOUT, z.shape)
            h = jnp.where(keep, jax.nn.relu(z) / (1 - DROPOUT), 0.0)
        logits = h @ params[-1]["w"].T + params[-1]["b"]
        logp = jax.nn.log_softmax(logits, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1)), new_running

    @jax.jit
    def train_step(params, m, v, t, running, key, xb, yb):
        key, sub = jax.random.split(key)
        (loss, running), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, running, sub, xb, yb)
        t = t + 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        m = jax.tree_util.tree_map(lambda a, g: b1 * a + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: b2 * a + (1 - b2) * g * g, v, grads)
        step_size = lr / (1 - b1 ** t)
        bc2 = jnp.sqrt(1 - b2 ** t)
        params = jax.tree_util.tree_map(lambda p, a, b: p - step_size * a / (jnp.sqrt(b) / bc2 + eps), params, m, v)
        return params, m, v, t, running, key, loss

    params = init(jax.random.PRNGKey(0))
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    running = [(jnp.zeros(o, jnp.float32), jnp.ones(o, jnp.float32)) for o in sizes[1:-1]]
    state = [params, zeros, zeros, jnp.float32(0), running, jax.random.PRNGKey(1)]
    xb, yb = jnp.asarray(x), jnp.asarray(y)

    def step():
        *state[:], _ = train_step(*state, xb, yb)

    def sync():
        jax.block_until_ready(state[0])
    return step, sync


def jax_available() -> bool:
    """Whether `import jax` works here (it is an optional peer)."""
    try:
        import jax  # noqa: F401
    except Exception:  # ImportError, or a jaxlib that does not load on this CPU
        return False
    return True
