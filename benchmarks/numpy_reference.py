"""A hand-written NumPy training step for the benchmark MLPs: the floor a NumPy-backed framework is measured against."""
from __future__ import annotations

import math

import numpy as np

f32 = np.float32


class NumpyMLP:
    """Linear -> BatchNorm1d -> ReLU -> inverted Dropout per hidden layer, Linear, softmax-CE, Adam; float32.

    `params` and `grads` follow minitorch's `model.parameters()` order: per hidden layer W, b, gamma, beta;
    then the output layer's W, b. Weights are (out, in) as in minitorch and PyTorch.
    """

    def __init__(self, sizes: tuple[int, ...], p: float = 0.2, lr: float = 1e-3, betas=(0.9, 0.999),
                 eps: float = 1e-8, bn_eps: float = 1e-5, bn_momentum: float = 0.1, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.hidden = len(sizes) - 2
        self.p, self.lr, self.betas, self.eps = p, lr, betas, eps
        self.bn_eps, self.bn_momentum = bn_eps, bn_momentum
        self.params: list[np.ndarray] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = math.sqrt(6.0 / fan_in)  # kaiming-uniform for ReLU, as minitorch's Linear
            self.params += [self.rng.uniform(-bound, bound, (fan_out, fan_in)).astype(f32), np.zeros(fan_out, f32)]
            if i < self.hidden:
                self.params += [np.ones(fan_out, f32), np.zeros(fan_out, f32)]
        self.running = [(np.zeros(o, f32), np.ones(o, f32)) for o in sizes[1:-1]]
        self.grads: list[np.ndarray | None] = [None] * len(self.params)
        self.exp_avg = [np.zeros_like(q) for q in self.params]
        self.exp_avg_sq = [np.zeros_like(q) for q in self.params]
        self.t = 0

    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> float:
        """Loss of a training-mode forward; fills self.grads (and updates BatchNorm's running statistics)."""
        n = x.shape[0]
        scale = f32(1.0 / (1.0 - self.p))
        saved = []  # per hidden layer: its input, x_hat, 1/std, the ReLU-and-dropout keep mask
        h = x
        for i in range(self.hidden):
            w, b, gamma, beta = self.params[4 * i:4 * i + 4]
            z = h @ w.T
            z += b
            mean = z.mean(axis=0)
            z -= mean                                     # z is now centred, in place
            var = np.einsum("ij,ij->j", z, z) / f32(n)    # one pass, no (n, c) temporary
            self._update_running(i, mean, var, n)
            invstd = 1.0 / np.sqrt(var + f32(self.bn_eps))
            z *= invstd                                   # z is now x_hat
            out = z * gamma
            out += beta
            keep = (out > 0) & (self.rng.random(out.shape, dtype=f32) >= self.p)  # ReLU and dropout in one mask
            out *= scale
            out *= keep
            saved.append((h, z, invstd, keep))
            h = out
        w, b = self.params[-2:]
        logits = h @ w.T
        logits += b
        # Softmax cross-entropy on shifted logits: loss = log(sum e) - shifted[label]; d = softmax - onehot.
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = float(np.mean(np.log(s[:, 0]) - logits[rows, y]))
        e /= s
        e[rows, y] -= 1.0
        e /= f32(n)
        d = e
        self.grads[-2], self.grads[-1] = d.T @ h, d.sum(axis=0)
        dh = d @ w
        for i in reversed(range(self.hidden)):
            h_in, x_hat, invstd, keep = saved[i]
            gamma = self.params[4 * i + 2]
            dh *= scale
            dh *= keep                                    # d(out) -> d(BN output) through dropout and ReLU
            dbeta = dh.sum(axis=0)
            dgamma = np.einsum("ij,ij->j", dh, x_hat)
            # dz = gamma/std * (dy - mean(dy) - x_hat * mean(dy * x_hat)), with the means from dbeta, dgamma
            dz = x_hat * (dgamma / f32(n))
            np.subtract(dh, dz, out=dz)
            dz -= dbeta / f32(n)
            dz *= gamma * invstd
            w = self.params[4 * i]
            self.grads[4 * i:4 * i + 4] = [dz.T @ h_in, dz.sum(axis=0), dgamma, dbeta]
            dh = dz @ w if i else None                    # the input needs no gradient: skip that GEMM
        return loss

    def _update_running(self, i: int, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        rm, rv = self.running[i]
        m = self.bn_momentum
        rm *= 1 - m
        rm += m * mean
        rv *= 1 - m
        rv += (m * n / (n - 1)) * var                    # running variance is the unbiased one, as PyTorch

    def adam_step(self) -> None:
        """One Adam step on every parameter, in place (PyTorch's formula)."""
        self.t += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1.0 - beta1 ** self.t)
        bc2_sqrt = math.sqrt(1.0 - beta2 ** self.t)
        for p, g, m, v in zip(self.params, self.grads, self.exp_avg, self.exp_avg_sq):
            m *= beta1
            m += (1.0 - beta1) * g
            v *= beta2
            v += (1.0 - beta2) * (g * g)
            denom = np.sqrt(v)
            denom /= bc2_sqrt
            denom += self.eps
            np.divide(m, denom, out=denom)
            denom *= step_size
            p -= denom

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward, loss, backward, Adam: one training step (gradients are overwritten, so no zero_grad)."""
        loss = self.forward_backward(x, y)
        self.adam_step()
        return loss
