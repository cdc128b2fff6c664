"""Random sampling: Generator, rand/randn/randint/randperm/normal (and their *_like forms), multinomial.

Every sampler takes `generator=` as PyTorch's do; without one it draws from the device's generator
(seeded by `minitorch.manual_seed`). A Generator is a private copy of its device's Backend with its
own random state, so it samples through exactly the same Backend methods as the device does.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import json
from typing import Any, Callable

import numpy as np

from .. import dtypes
from ..backends import Backend, get_backend
from ..tensor import Tensor
from ._util import size_tuple


class Generator:
    """An independent random stream for one device: `minitorch.Generator().manual_seed(42)`."""

    def __init__(self, device: Any = "cpu") -> None:
        base = get_backend(device)
        self._backend: Backend = copy.copy(base)
        self._initial_seed = int(np.random.SeedSequence().entropy % (1 << 63))
        self._backend.seed(self._initial_seed)

    @property
    def device(self) -> Any:
        return self._backend.device

    def manual_seed(self, seed: int) -> "Generator":
        """Restart the stream from `seed`; returns the generator (so it can be created and seeded in one line)."""
        self._initial_seed = int(seed)
        self._backend.seed(self._initial_seed)
        return self

    def seed(self) -> int:
        """Reseed from fresh entropy and return the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy % (1 << 63)))
        return self._initial_seed

    def initial_seed(self) -> int:
        """The seed the stream last started from."""
        return self._initial_seed

    def get_state(self) -> Tensor:
        """The generator's state as a uint8 tensor (PyTorch's type), for set_state."""
        state = self._backend.rng_state()
        if state is None:
            raise RuntimeError(f"the generator of device {self.device} cannot save its state")
        raw = json.dumps({"seed": self._initial_seed, "state": state}).encode()
        return Tensor(np.frombuffer(raw, dtype=np.uint8).copy(), device="cpu")

    def set_state(self, new_state: Tensor) -> "Generator":
        """Restore a state from get_state."""
        saved = json.loads(bytes(np.asarray(new_state, dtype=np.uint8)).decode())
        self._initial_seed = saved["seed"]
        self._backend.set_rng_state(saved["state"])
        return self

    def __repr__(self) -> str:
        return f"<minitorch.Generator on {self.device}>"


def _sampler(device: Any, generator: Generator | None) -> tuple[Backend, Backend]:
    """(the device's Backend, the Backend to draw from): the generator's when given."""
    backend = get_backend(device)
    if generator is None:
        return backend, backend
    if generator._backend.device != backend.device:
        raise RuntimeError(f"Expected a '{backend.device}' device type for generator but found "
                           f"'{generator.device}'")
    return backend, generator._backend


def _on_device(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Run a sampler with its `device` current: the array work after the draw (floor, argsort, casts) runs
    on the current CUDA device, which for cuda:N must be N (the draws are Backend methods, guarded)."""
    @functools.wraps(fn)
    def run(*args: Any, device: Any = None, **kwargs: Any) -> Tensor:
        guard = get_backend(device).guard
        if guard is None:
            return fn(*args, device=device, **kwargs)
        with guard:
            return fn(*args, device=device, **kwargs)
    return run


def _float_dtype(dtype: Any, op: str) -> np.dtype:
    d = dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)
    if d.kind != "f":
        raise NotImplementedError(f"\"{op}\" not implemented for '{dtypes.scalar_type_name(d)}'")
    return d


def _wrap(array: Any, backend: Backend, requires_grad: bool) -> Tensor:
    return Tensor._make(array, backend, False, None).requires_grad_(requires_grad)


def _uniform(source: Backend, shape: tuple[int, ...]) -> Any:
    """float64 samples in [0, 1): what the integer samplers below are built from."""
    return source.rand(shape, dtypes.backend_dtype(source.xp, dtypes.float64))


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, **kw) -> Tensor:
    """Uniform samples in [0, 1)."""
    backend, source = _sampler(device, generator)
    d = _float_dtype(dtype, "check_uniform_bounds")
    return _wrap(source.rand(size_tuple(size, kw), dtypes.backend_dtype(backend.xp, d)), backend, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, **kw) -> Tensor:
    """Standard normal samples."""
    backend, source = _sampler(device, generator)
    d = _float_dtype(dtype, "normal_kernel_cpu")
    return _wrap(source.randn(size_tuple(size, kw), dtypes.backend_dtype(backend.xp, d)), backend, requires_grad)


@_on_device
def randint(*args, size=None, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Integers uniform in [low, high): randint(high, size) or randint(low, high, size); int64 by default."""
    if size is None:
        *bounds, size = args
    else:
        bounds = list(args)
    low, high = (0, *bounds) if len(bounds) == 1 else bounds
    backend, source = _sampler(device, generator)
    return _wrap(_integers(backend, source, int(low), int(high), size_tuple((size,))), backend, False) \
        .to(dtypes.int64 if dtype is None else dtype).requires_grad_(requires_grad)


def _integers(backend: Backend, source: Backend, low: int, high: int, shape: tuple[int, ...]) -> Any:
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    xp = backend.xp
    # floor(u * n) of a float64 uniform: unbiased to within n / 2^53, and never n (clipped for rounding)
    n = high - low
    k = xp.astype(xp.floor(_uniform(source, shape) * n), xp.int64)
    return xp.minimum(k, xp.asarray(n - 1, dtype=xp.int64)) + low


@_on_device
def randperm(n, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A random permutation of 0..n-1 (int64 by default)."""
    backend, source = _sampler(device, generator)
    order = backend.xp.argsort(_uniform(source, (int(n),)))  # the ranks of n uniform keys: every order equally likely
    return _wrap(backend.xp.astype(order, backend.xp.int64), backend, False) \
        .to(dtypes.int64 if dtype is None else dtype).requires_grad_(requires_grad)


def normal(mean=0.0, std=1.0, size=None, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Normal samples: of the broadcast shape of tensor mean/std, or of `size` for number mean and std."""
    ref = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
    if ref is not None and size is None:
        from ..autograd import broadcast_shapes
        shape = broadcast_shapes(*(t.shape for t in (mean, std) if isinstance(t, Tensor)))
        noise = randn(shape, generator=generator, dtype=ref.dtype, device=ref.device)
        return (noise * std + mean).detach()
    if size is None:
        raise TypeError("normal(): with number mean and std, size= is required")
    noise = randn(size, generator=generator, dtype=dtype, device=device)
    return (noise * std + mean).detach().requires_grad_(requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Uniform samples with t's shape, dtype and device."""
    return rand(t.shape, generator=generator, dtype=t.dtype if dtype is None else dtype,
                device=t.device if device is None else device, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Normal samples with t's shape, dtype and device."""
    return randn(t.shape, generator=generator, dtype=t.dtype if dtype is None else dtype,
                 device=t.device if device is None else device, requires_grad=requires_grad)


def randint_like(t, *bounds, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """randint(low=0, high) with t's shape, dtype and device."""
    return randint(*bounds, t.shape, generator=generator, dtype=t.dtype if dtype is None else dtype,
                   device=t.device if device is None else device, requires_grad=requires_grad)


def multinomial(input, num_samples, replacement=False, generator=None) -> Tensor:  # noqa: A002
    """Indices drawn from the categories of each row of `input` (weights, not necessarily normalised)."""
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not dtypes.is_floating(input.dtype):
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{dtypes.scalar_type_name(input.dtype)}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    n = input.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    with input.backend.guard or contextlib.nullcontext():  # the checks and the draw run on the input's device
        return _multinomial(input, num_samples, replacement, generator)


def _multinomial(input, num_samples, replacement, generator) -> Tensor:  # noqa: A002
    n = input.shape[-1]
    backend, source = _sampler(input.device, generator)
    xp = backend.xp
    w = xp.astype(xp.reshape(input.array, (-1, n)), xp.float64)
    if not bool(xp.all(xp.isfinite(w) & (w >= 0))):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    total = xp.sum(w, axis=1, keepdims=True)
    if not bool(xp.all(total > 0)):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rows = w.shape[0]
    if replacement:  # invert the CDF at uniform points
        cdf = xp.cumulative_sum(w / total, axis=1)
        u = _uniform(source, (rows, num_samples))
        picks = [xp.searchsorted(cdf[i, :], u[i, :], side="right") for i in range(rows)]
        out = xp.minimum(xp.stack(picks), xp.asarray(n - 1, dtype=picks[0].dtype))
    else:  # w / Exp(1) keys: the top k are a draw without replacement (zero weights come last)
        keys = w / -xp.log1p(-_uniform(source, (rows, n)))
        out = xp.argsort(-keys, axis=1)[:, :num_samples]
    out = xp.astype(out, xp.int64)
    return Tensor._make(out if input.ndim == 2 else xp.reshape(out, (num_samples,)), backend, False, None)


__all__ = ["Generator", "rand", "randn", "randint", "randperm", "normal", "rand_like", "randn_like", "randint_like",
           "multinomial"]
