"""The Backend interface: one object per array library, holding what the array API standard lacks."""
from __future__ import annotations

from typing import Any, Callable, Hashable

import numpy as np

from ..dtypes import as_dtype
from ..kernels import reference


class Backend:
    """An array library bound to one device: its `xp` namespace, RNG, transfers and fused kernels."""

    name: str = ""
    device: str = ""
    # A context manager making this backend's device current, where the array library allocates and launches
    # on a "current device" (CuPy: backends.cupy_backend.DeviceGuard); None elsewhere, so the eager paths
    # (Function.apply, backward, Optimizer.step, creation) pay one attribute check on NumPy.
    guard: Any = None

    def __init__(self) -> None:
        self.rng = self.make_rng(None)

    def __deepcopy__(self, memo: dict) -> "Backend":
        # One Backend per device and process: copy.deepcopy(model) must give tensors on the same device.
        return self

    # -- namespace -------------------------------------------------------------------------
    @property
    def xp(self) -> Any:
        """The array namespace (array API standard) that op code calls."""
        raise NotImplementedError

    @property
    def kernels(self) -> Any:
        """Fused kernels: the xp references here; CUDA launchers on the CuPy backend."""
        return reference

    # -- transfers -------------------------------------------------------------------------
    def from_host(self, array: np.ndarray) -> Any:
        """Copy a NumPy array onto this backend's device."""
        return self.xp.asarray(array, copy=True)

    def to_host(self, array: Any) -> np.ndarray:
        """Copy an array of this backend into a NumPy array."""
        return np.asarray(array)

    def pin(self, array: np.ndarray) -> np.ndarray:
        """A host array this device copies from fastest: page-locked memory on CUDA, `array` itself here."""
        return array

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on the CPU)."""

    # -- errors found on the device ------------------------------------------------------------
    # True where reading a value back waits for the device (CUDA): checks such as cross_entropy's label
    # range then leave a flag on the device, read by raise_pending_errors(), instead of syncing each step.
    deferred_checks: bool = False

    def defer_check(self, key: Hashable, flag: Any, ok: int, error: Callable[[int], Exception]) -> None:
        """Keep a 0-d integer flag computed on the device (`ok` if the check passed) for raise_pending_errors();
        calls with one `key` share one flag that keeps the first failure (two small device ops, no read)."""
        pending = self.__dict__.setdefault("_pending_errors", {})
        if key in pending:
            earlier = pending[key][0]
            flag = self.xp.where(earlier == ok, flag, earlier)
        pending[key] = (flag, ok, error)

    def raise_pending_errors(self) -> None:
        """Read the flags deferred checks left on the device (one sync) and raise the first error found
        (`minitorch.cuda.synchronize()` and the training loop's periodic reads call this)."""
        pending = self.__dict__.pop("_pending_errors", None)
        if not pending:
            return
        checks = list(pending.values())
        flags = checks[0][0] if len(checks) == 1 else self.xp.stack([flag for flag, _, _ in checks])
        for (_, ok, error), value in zip(checks, np.atleast_1d(self.to_host(flags)).tolist()):
            if value != ok:
                raise error(value)

    # -- random numbers --------------------------------------------------------------------
    def make_rng(self, seed: int | None) -> Any:
        """A generator for this backend, seeded by `minitorch.manual_seed`."""
        return np.random.default_rng(seed)

    def seed(self, seed: int) -> None:
        """Re-seed this backend's generator."""
        self.rng = self.make_rng(seed)

    def rng_state(self) -> Any:
        """The generator's state as JSON-able data (for resuming a run), or None if unsupported."""
        return self.rng.bit_generator.state

    def set_rng_state(self, state: Any) -> None:
        """Restore a state from `rng_state()`."""
        self.rng.bit_generator.state = state

    def rand(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """Uniform samples in [0, 1)."""
        return self.from_host(self.rng.random(shape).astype(as_dtype(dtype)))

    def randn(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """Standard normal samples."""
        return self.from_host(self.rng.standard_normal(shape).astype(as_dtype(dtype)))

    def dropout_mask(self, shape: tuple[int, ...], p: float, dtype: Any) -> Any:
        """Inverted-dropout multipliers: 0 with probability p, else 1/(1-p)."""
        xp = self.xp
        keep = self.rand(shape, dtype) >= p
        return xp.astype(keep, dtype) * (1.0 / (1.0 - p))

    # -- special functions the standard lacks ------------------------------------------------
    def erf(self, array: Any) -> Any:
        """The error function of a floating array, in its dtype (Cody's rational approximations in xp)."""
        from .erf import erf
        return erf(array)

    # -- indexing beyond the standard ---------------------------------------------------------
    def index(self, array: Any, key: Any) -> Any:
        """`array[key]` for any NumPy-style key (slices mixed with integer arrays included)."""
        return array[key]

    def index_add(self, target: Any, key: Any, values: Any) -> None:
        """`target[key] += values` in place, accumulating repeated indices (a scatter-add)."""
        np.add.at(target, key, values)

    def index_put(self, target: Any, key: Any, values: Any) -> None:
        """`target[key] = values` in place, for any NumPy-style key (integer arrays included)."""
        target[key] = values

    # -- sorting -----------------------------------------------------------------------------
    def argsort(self, array: Any, axis: int = -1, descending: bool = False) -> Any:
        """Indices that sort `array` along `axis`: stable (ties keep their order) and NaN as the largest
        value, as PyTorch's sort; the standard's `descending` is missing from NumPy and CuPy."""
        if not descending:
            return self.stable_argsort(array, axis)
        # Sort the reversed array and read the result backwards: the largest values come first and
        # equal ones stay in their original order.
        xp = self.xp
        reversed_order = self.stable_argsort(xp.flip(array, axis=axis), axis)
        return (array.shape[axis] - 1) - xp.flip(reversed_order, axis=axis)

    def stable_argsort(self, array: Any, axis: int) -> Any:
        """Ascending stable argsort (the standard's spelling; NumPy 2 and array_api_strict accept it)."""
        return self.xp.argsort(array, axis=axis, stable=True)

    def __repr__(self) -> str:
        return f"<Backend {self.name} on {self.device}>"
