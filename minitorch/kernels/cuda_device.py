"""Launchers run on the device that holds their arrays ("cuda:N"), not on whichever device is current."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def on_device(method: F) -> F:
    """Run a launcher under the CUDA device of its first array (or of the first array in a list).

    CuPy allocates, loads RawKernels and launches on the *current* device, so without this a tensor on
    cuda:1 would get its outputs on cuda:0 (or an illegal-address fault). Entering `array.device`
    costs one cudaGetDevice when it is already current. Launchers on NumPy (the emulator) or on a
    namespace without `cuda` (test fakes) are called as they are: `self._guard` is False there.
    """

    @functools.wraps(method)
    def launcher(self: Any, first: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._guard:
            return method(self, first, *args, **kwargs)
        array = first[0] if isinstance(first, (list, tuple)) and first else first
        device = getattr(array, "device", None)
        if not hasattr(device, "__enter__"):  # an empty list, or a host array the launcher will refuse
            return method(self, first, *args, **kwargs)
        with device:
            return method(self, first, *args, **kwargs)

    launcher.on_device = True  # type: ignore[attr-defined]  # tests check every launcher has it
    return launcher  # type: ignore[return-value]
