"""cuda:N for N > 0 without a GPU: the launchers and the CuPy backend allocate, draw and launch on the device that
holds the data, whichever device is current, and leave the current device as they found it (a fake CuPy with
two devices records every piece of work done with an input on another device). Also: the table of launch shapes
the NVRTC test checks (cuda.LAUNCH_THREADS) lists exactly the launches the launchers make."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from fake_cupy import FakeCupy
from minitorch.backends import cupy_backend
from minitorch.kernels import cuda as cuda_launchers
from minitorch.kernels.cuda import LAUNCH_THREADS, CudaKernels

RNG = np.random.default_rng(0)


def _f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _params(fake, device, n=3):
    return [fake.on(device, _f32(5, 7)) for _ in range(n)]


def _calls(fake: FakeCupy, d: int) -> dict:
    """One call per launcher branch, with every array on device d."""
    on = fake.on
    geo = dict(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    target = on(d, np.array([0, 3, 1, 2], dtype=np.int64))
    wide_target = on(d, np.array([0, 1500, 7, 2], dtype=np.int64))
    row = lambda n: on(d, _f32(n))  # noqa: E731
    return {
        "xent_forward_warp": lambda k: k.softmax_cross_entropy_forward(on(d, _f32(4, 10)), target, -100, 0.1, "mean"),
        "xent_forward_block": lambda k: k.softmax_cross_entropy_forward(on(d, _f32(4, 2000)), wide_target, -100, 0.0,
                                                                        "sum"),
        "xent_forward_none": lambda k: k.softmax_cross_entropy_forward(on(d, _f32(4, 10)), target, -100, 0.0, "none"),
        "xent_backward_warp": lambda k: k.softmax_cross_entropy_backward(on(d, np.float32(1.0)), on(d, _f32(4, 10)),
                                                                         target, row(4), -100, 0.0, "mean"),
        "xent_backward_block": lambda k: k.softmax_cross_entropy_backward(row(4), on(d, _f32(4, 5000)), wide_target,
                                                                          row(4), -100, 0.0, "none"),
        "bn_train_nc_small": lambda k: k.batch_norm_forward_train(on(d, _f32(16, 4)), row(4), row(4), row(4),
                                                                  row(4), 0.1, 1e-5),
        "bn_train_nc_split": lambda k: k.batch_norm_forward_train(on(d, _f32(1024, 4)), None, None, None, None,
                                                                  0.1, 1e-5),
        "bn_train_nchw_split": lambda k: k.batch_norm_forward_train(on(d, _f32(2, 2, 64, 64)), row(2), row(2),
                                                                    row(2), row(2), 0.1, 1e-5),
        "bn_eval": lambda k: k.batch_norm_forward_eval(on(d, _f32(8, 4)), row(4), row(4), row(4),
                                                       on(d, np.ones(4, np.float32)), 1e-5),
        "bn_backward_nc": lambda k: k.batch_norm_backward(on(d, _f32(16, 4)), on(d, _f32(16, 4)), row(4), row(4),
                                                          row(4)),
        "bn_backward_nc_split": lambda k: k.batch_norm_backward(on(d, _f32(1024, 4)), on(d, _f32(1024, 4)), None,
                                                                row(4), row(4)),
        "bn_backward_nchw_split": lambda k: k.batch_norm_backward(on(d, _f32(2, 2, 64, 64)), on(d, _f32(2, 2, 64, 64)),
                                                                  row(2), row(2), row(2)),
        **{f"window_{dt.__name__}": (lambda dt: lambda k: _window(k, on, d, dt, geo))(dt)
           for dt in (np.float32, np.float64)},
        "adam": lambda k: k.adam_step(_params(fake, d), _params(fake, d), _params(fake, d), _params(fake, d),
                                      step=1, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                                      decoupled=False),
        "sgd": lambda k: k.sgd_step(_params(fake, d), _params(fake, d), _params(fake, d), lr=0.1, momentum=0.9,
                                    weight_decay=0.0, nesterov=False),
        "adagrad": lambda k: k.adagrad_step(_params(fake, d), _params(fake, d), _params(fake, d), step=1, lr=0.1,
                                            lr_decay=0.0, weight_decay=0.0, eps=1e-10),
        "adadelta": lambda k: k.adadelta_step(_params(fake, d), _params(fake, d), _params(fake, d),
                                              _params(fake, d), lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0),
    }


def _window(k, on, d, dtype, geo):
    x = on(d, RNG.standard_normal((2, 3, 6, 6)).astype(dtype))
    cols = k.im2col(x, **geo)
    k.col2im(cols, (6, 6), **geo)
    out, idx = k.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    k.max_pool2d_backward(out, idx, x.shape, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1))
    k.max_pool2d_backward(out, idx, x.shape)  # without the geometry: the scatter kernel


def _results(value):
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _results(v)]
    return []


@pytest.mark.parametrize("case", sorted(_calls(FakeCupy(), 1)))
def test_each_launcher_runs_on_the_device_of_its_arrays(case):
    fake = FakeCupy()
    k = CudaKernels(fake.load_module, fake)
    out = _calls(fake, 1)[case](k)  # the current device stays 0 all along
    assert fake.launches, "the launcher fell back to the reference: the case tests nothing"
    assert not fake.wrong, "\n".join(fake.wrong)
    assert {launch.device for launch in fake.launches} == {1}
    assert all(set(launch.arg_devices) == {1} for launch in fake.launches)
    assert all(a.device_id == 1 for a in _results(out)), "a result was left on another device"
    assert fake.current == 0 and not fake.stack


def test_every_public_launcher_is_guarded():
    public = [name for name in dir(CudaKernels) if not name.startswith("_") and callable(getattr(CudaKernels, name))]
    assert public and all(getattr(getattr(CudaKernels, name), "on_device", False) for name in public), [
        name for name in public if not getattr(getattr(CudaKernels, name), "on_device", False)]


def test_launch_table_lists_exactly_the_launches_made():
    fake = FakeCupy()
    k = CudaKernels(fake.load_module, fake)
    for call in _calls(fake, 0).values():
        call(k)
    made = {(launch.kernel, launch.threads) for launch in fake.launches}
    listed = {(name, threads) for name, shapes in LAUNCH_THREADS.items() for threads in shapes}
    assert made - listed == set(), "launches missing from cuda.LAUNCH_THREADS"
    assert listed - made == set(), "LAUNCH_THREADS entries no launch makes (or a branch these calls miss)"


def test_launch_shapes_are_legal_blocks():
    assert all(1 <= t <= 1024 and t % 32 == 0 for shapes in LAUNCH_THREADS.values() for t in shapes)
    assert cuda_launchers.ROW_BLOCK <= 1024 and 32 * cuda_launchers.ROWS_PER_BLOCK <= 1024


# ---- the backend ----------------------------------------------------------------------------------------
@pytest.fixture
def backend_on_1(monkeypatch):
    """CupyBackend("cuda:1") on the fake CuPy, created while device 0 is current."""
    fake = FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(cupy_backend, "availability", lambda: (True, "ok"))
    return fake, cupy_backend.CupyBackend(1)


def test_backend_on_cuda_1_draws_allocates_and_uploads_there(backend_on_1):
    fake, b = backend_on_1
    small, big = np.ones(4, np.float32), np.ones(cupy_backend.PINNED_MIN_BYTES // 4, np.float32)
    arrays = [b.rand((3,), np.float32), b.randn((3,), np.float32), b.dropout_mask((8,), 0.5, np.float32),
              b.from_host(small), b.from_host(big)]
    b.seed(1)
    arrays.append(b.rand((2,), np.float32))
    x = b.from_host(np.arange(6, dtype=np.float32))
    arrays += [b.index(x, np.array([0, 2])), b.argsort(x, descending=True)]
    b.index_put(x, np.array([1]), b.from_host(np.zeros(1, np.float32)))
    for _ in range(2):  # the second check combines its flag with the first's on the device
        b.defer_check("labels", b.from_host(np.array(0)), 0, ValueError)
    b.raise_pending_errors()
    assert not fake.wrong, "\n".join(fake.wrong)
    assert [a.device_id for a in arrays] == [1] * len(arrays)
    assert fake.pinned_allocs == [big.nbytes]  # the big upload was staged in page-locked memory
    assert fake.current == 0 and not fake.stack


def test_synchronize_releases_the_staging_memory(backend_on_1):
    fake, b = backend_on_1
    b.from_host(np.ones(cupy_backend.PINNED_MIN_BYTES // 4, np.float32))
    assert len(b._staging.in_flight) == 1  # held while its copy may still run
    b.synchronize()
    assert b._staging.in_flight == []
