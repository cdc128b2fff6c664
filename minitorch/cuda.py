"""minitorch.cuda: the CUDA device as torch.cuda presents it, on the CuPy backend.

Nothing here imports CuPy until a function needs it, so `import minitorch` never does; where CuPy
or a device is missing, `is_available()` is False and `device_count()` is 0, as in PyTorch.
"""
from __future__ import annotations

from typing import Any

from .backends import cupy_backend, get_backend


def is_available() -> bool:
    """Whether the cupy backend can run here (CuPy importable, a device, a working kernel compiler)."""
    return cupy_backend.availability()[0]


def _require() -> Any:
    """CuPy, or a RuntimeError saying why CUDA cannot be used."""
    ok, reason = cupy_backend.availability()
    if not ok:
        raise RuntimeError(f"CUDA is not available: {reason}")
    import cupy
    return cupy


def device_count() -> int:
    """How many CUDA devices CuPy sees (0 without a usable CUDA)."""
    return _require().cuda.runtime.getDeviceCount() if is_available() else 0


def current_device() -> int:
    """The index of the current CUDA device."""
    return _require().cuda.runtime.getDevice()


def set_device(device: Any) -> None:
    """Make a CUDA device (an index, "cuda:N" or a minitorch.device) the current one."""
    index = device if isinstance(device, int) else int(str(device).partition(":")[2] or 0)
    _require().cuda.runtime.setDevice(index)


def get_device_name(device: Any = None) -> str:
    """The device's product name, e.g. "NVIDIA H100 80GB HBM3"."""
    cupy = _require()
    index = current_device() if device is None else device if isinstance(device, int) else \
        int(str(device).partition(":")[2] or 0)
    name = cupy.cuda.runtime.getDeviceProperties(index)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize(device: Any = None) -> None:
    """Wait until every queued kernel and copy on the device has finished; then raise an error a check left
    on the device (a label out of range in cross_entropy), as a CUDA device-side assert surfaces at a sync."""
    _require()
    backend = get_backend("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)
    backend.synchronize()
    backend.raise_pending_errors()


def manual_seed(seed: int) -> None:
    """Seed the generators of the CUDA devices (a no-op without CUDA, as in PyTorch)."""
    from .backends import manual_seed_cuda
    manual_seed_cuda(seed)


manual_seed_all = manual_seed


def empty_cache() -> None:
    """Return cached, unused device memory (CuPy's memory pools) to the driver."""
    if is_available():
        import cupy
        cupy.get_default_memory_pool().free_all_blocks()
        cupy.get_default_pinned_memory_pool().free_all_blocks()


def memory_allocated(device: Any = None) -> int:
    """Bytes of device memory held by tensors now (CuPy's default pool; 0 without CUDA)."""
    if not is_available():
        return 0
    import cupy
    return int(cupy.get_default_memory_pool().used_bytes())


def __getattr__(name: str) -> Any:
    from .tensor import _suggest
    raise _suggest(__name__, list(globals()), name)
