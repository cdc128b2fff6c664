"""`python -m minitorch.selftest`: every fused kernel against its reference, on the GPU or the CPU emulator."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .kernels import reference as ref

Array = Any


@dataclass
class Result:
    """One output of one kernel compared with the float64 reference."""

    name: str
    max_err: float  # max |kernel - reference|
    ok: bool


def to_host(a: Array) -> np.ndarray:
    return np.asarray(a.get() if hasattr(a, "get") else a, dtype=np.float64)


def compare(name: str, got: Array, want: Array, rtol: float = 1e-5, atol: float = 1e-5) -> Result:
    """NaNs must match exactly; everything else within atol + rtol * |want|."""
    g, w = to_host(got), to_host(want)
    if g.shape != w.shape:
        return Result(f"{name} (shape {g.shape} != {w.shape})", float("inf"), False)
    same_nan = np.array_equal(np.isnan(g), np.isnan(w))
    g, w = np.nan_to_num(g), np.nan_to_num(w)
    err = np.abs(g - w)
    ok = bool(same_nan and np.all(err <= atol + rtol * np.abs(w)))
    return Result(name, float(err.max(initial=0.0)), ok)


def _pair(xp: Any, a: np.ndarray) -> tuple[Array, Array]:
    """The same float32 values as a kernel input and as a float64 oracle input."""
    a32 = a.astype(np.float32)
    return xp.asarray(a32), xp.asarray(a32.astype(np.float64))


def check_xent(k: Any, xp: Any, n: int, c: int, reduction: str, smoothing: float = 0.0, *, scale: float = 3.0,
               ignore_index: int = -100, ignored: Sequence[int] = (), neg_inf_rows: Sequence[int] = (),
               seed: int = 0) -> list[Result]:
    """Fused softmax + cross-entropy forward (loss, lse) and backward against the reference."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c)) * scale
    x[list(neg_inf_rows)] = -np.inf
    t = rng.integers(0, c, size=n)
    t[list(ignored)] = ignore_index
    x32, x64 = _pair(xp, x)
    tt = xp.asarray(t)
    loss, lse = k.softmax_cross_entropy_forward(x32, tt, ignore_index, smoothing, reduction)
    loss_r, lse_r = ref.softmax_cross_entropy_forward(x64, tt, ignore_index, smoothing, reduction)
    kept = t != ignore_index
    # float32 values of size ~1e4 are spaced ~1e-3 apart: that is the absolute error to expect there.
    atol = 1e-5 if scale <= 10 else 1e-6 * scale
    out = [compare("loss", loss, loss_r, atol=atol), compare("lse", to_host(lse)[kept], to_host(lse_r)[kept], atol=atol)]
    g = rng.normal(size=n) if reduction == "none" else np.array(1.3)
    g32, g64 = _pair(xp, g)
    dx = k.softmax_cross_entropy_backward(g32, x32, tt, lse, ignore_index, smoothing, reduction)
    dx_r = ref.softmax_cross_entropy_backward(g64, x64, tt, lse_r, ignore_index, smoothing, reduction)
    out.append(compare("dlogits", dx, dx_r, atol=1e-6 if scale <= 10 else 1e-6 * scale))
    return out


def check_bn(k: Any, xp: Any, shape: tuple[int, ...], *, affine: bool = True, running: bool = True,
             seed: int = 0) -> list[Result]:
    """BatchNorm train forward (+ running stats), eval forward and backward against the reference."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    x32, x64 = _pair(xp, rng.normal(size=shape) * 2 + 3)
    dy32, dy64 = _pair(xp, rng.normal(size=shape))
    (w32, w64), (b32, b64) = (_pair(xp, rng.normal(size=c)), _pair(xp, rng.normal(size=c))) if affine else \
        ((None, None), (None, None))
    rm, rv = rng.normal(size=c), rng.uniform(0.5, 2.0, size=c)
    (rm32, rm64), (rv32, rv64) = (_pair(xp, rm), _pair(xp, rv)) if running else ((None, None), (None, None))
    y, mean, invstd = k.batch_norm_forward_train(x32, w32, b32, rm32, rv32, 0.1, 1e-5)
    y_r, mean_r, invstd_r = ref.batch_norm_forward_train(x64, w64, b64, rm64, rv64, 0.1, 1e-5)
    out = [compare("y", y, y_r, atol=1e-5), compare("mean", mean, mean_r), compare("invstd", invstd, invstd_r)]
    if running:
        out += [compare("running_mean", rm32, rm64), compare("running_var", rv32, rv64)]
        ye = k.batch_norm_forward_eval(x32, w32, b32, rm32, rv32, 1e-5)
        out.append(compare("y_eval", ye, ref.batch_norm_forward_eval(x64, w64, b64, rm64, rv64, 1e-5)))
    dx, dw, db = k.batch_norm_backward(dy32, x32, w32, mean, invstd)
    dx_r, dw_r, db_r = ref.batch_norm_backward(dy64, x64, w64, mean_r, invstd_r)
    n = x64.size // c
    out += [compare("dx", dx, dx_r, atol=1e-4), compare("dweight", dw, dw_r, atol=1e-6 * n),
            compare("dbias", db, db_r, atol=1e-6 * n)]
    return out


def _states(xp: Any, sizes: Sequence[int], rng: np.random.Generator, count: int) -> list[list[tuple[Array, Array]]]:
    return [[_pair(xp, rng.normal(size=s) * (j == 0)) for s in sizes] for j in range(count)]


def check_adam(k: Any, xp: Any, sizes: Sequence[int], *, decoupled: bool, weight_decay: float, steps: int = 2,
               seed: int = 0, amsgrad: bool = False, maximize: bool = False, beta2: float = 0.999) -> list[Result]:
    """Multi-tensor Adam/AdamW (AMSGrad, maximize) for a few steps against the reference (params and moments)."""
    rng = np.random.default_rng(seed)
    p, m, v, vmax = _states(xp, sizes, rng, 4)  # params random, moments zero
    for step in range(1, steps + 1):
        g = [_pair(xp, rng.normal(size=s) * 2.0 ** -step) for s in sizes]  # shrinking: the running max matters
        kw = dict(step=step, lr=1e-2, beta1=0.9, beta2=beta2, eps=1e-8, weight_decay=weight_decay, decoupled=decoupled,
                  amsgrad=amsgrad, maximize=maximize)
        k.adam_step(*([a[0] for a in arrs] for arrs in (p, g, m, v, vmax)), **kw)
        ref.adam_step(*([a[1] for a in arrs] for arrs in (p, g, m, v, vmax)), **kw)
    return [compare(f"{name}[{i}]", a[0], a[1]) for name, arrs in (("param", p), ("exp_avg", m), ("exp_avg_sq", v),
                                                                     ("max_exp_avg_sq", vmax)) for i, a in enumerate(arrs)]


def check_sgd(k: Any, xp: Any, sizes: Sequence[int], *, momentum: float, nesterov: bool, weight_decay: float,
              steps: int = 2, seed: int = 0, dampening: float = 0.0, maximize: bool = False) -> list[Result]:
    """Multi-tensor SGD for a few steps against the reference (params and momentum buffers)."""
    rng = np.random.default_rng(seed)
    p, buf = _states(xp, sizes, rng, 2)
    for step in range(steps):
        g = [_pair(xp, rng.normal(size=s)) for s in sizes]
        # As optim.SGD: a buffer's first step is undamped (PyTorch clones the gradient into it).
        kw = dict(lr=0.1, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
                  dampening=dampening if step else 0.0, maximize=maximize)
        k.sgd_step([a[0] for a in p], [a[0] for a in g], [a[0] for a in buf] if momentum else None, **kw)
        ref.sgd_step([a[1] for a in p], [a[1] for a in g], [a[1] for a in buf] if momentum else None, **kw)
    return [compare(f"{name}[{i}]", a[0], a[1]) for name, arrs in (("param", p), ("buf", buf)) for i, a in enumerate(arrs)]


def check_adagrad(k: Any, xp: Any, sizes: Sequence[int], *, lr_decay: float, weight_decay: float,
                  maximize: bool = False, steps: int = 3, seed: int = 0) -> list[Result]:
    """Multi-tensor Adagrad for a few steps against the reference (params and accumulators, which start at 0.1)."""
    rng = np.random.default_rng(seed)
    p = [_pair(xp, rng.normal(size=s)) for s in sizes]
    acc = [_pair(xp, np.full(s, 0.1)) for s in sizes]
    for step in range(1, steps + 1):
        g = [_pair(xp, rng.normal(size=s)) for s in sizes]
        kw = dict(step=step, lr=0.05, lr_decay=lr_decay, weight_decay=weight_decay, eps=1e-10, maximize=maximize)
        k.adagrad_step(*([a[0] for a in arrs] for arrs in (p, g, acc)), **kw)
        ref.adagrad_step(*([a[1] for a in arrs] for arrs in (p, g, acc)), **kw)
    return [compare(f"{name}[{i}]", a[0], a[1]) for name, arrs in (("param", p), ("sum", acc)) for i, a in enumerate(arrs)]


def check_adadelta(k: Any, xp: Any, sizes: Sequence[int], *, rho: float, weight_decay: float, maximize: bool = False,
                   steps: int = 3, seed: int = 0) -> list[Result]:
    """Multi-tensor Adadelta for a few steps against the reference (params, square_avg and acc_delta)."""
    rng = np.random.default_rng(seed)
    p, sq, acc = _states(xp, sizes, rng, 3)
    for _ in range(steps):
        g = [_pair(xp, rng.normal(size=s)) for s in sizes]
        kw = dict(lr=1.0, rho=rho, eps=1e-6, weight_decay=weight_decay, maximize=maximize)
        k.adadelta_step(*([a[0] for a in arrs] for arrs in (p, g, sq, acc)), **kw)
        ref.adadelta_step(*([a[1] for a in arrs] for arrs in (p, g, sq, acc)), **kw)
    return [compare(f"{name}[{i}]", a[0], a[1]) for name, arrs in (("param", p), ("square_avg", sq), ("acc_delta", acc))
            for i, a in enumerate(arrs)]


# Small enough for the emulator (one fiber per CUDA thread), still covering both launch shapes.
QUICK: list[tuple[str, Callable[[Any, Any], list[Result]]]] = [
    ("softmax_xent warp-per-row (37x10, mean, smoothing)", lambda k, xp: check_xent(k, xp, 37, 10, "mean", 0.1, ignored=[3])),
    ("softmax_xent block-per-row (3x5000, sum)", lambda k, xp: check_xent(k, xp, 3, 5000, "sum")),
    ("batchnorm (N, C) = (50, 40)", lambda k, xp: check_bn(k, xp, (50, 40))),
    ("batchnorm (N, C, H, W) = (3, 4, 5, 7)", lambda k, xp: check_bn(k, xp, (3, 4, 5, 7))),
    ("adamw multi-tensor", lambda k, xp: check_adam(k, xp, [1, 33, 4100], decoupled=True, weight_decay=0.01)),
    ("sgd nesterov multi-tensor", lambda k, xp: check_sgd(k, xp, [1, 33, 4100], momentum=0.9, nesterov=True,
                                                          weight_decay=1e-4)),
    ("adam amsgrad maximize multi-tensor", lambda k, xp: check_adam(k, xp, [1, 33, 4100], decoupled=False,
                                                                   weight_decay=0.01, amsgrad=True, maximize=True,
                                                                   beta2=0.5, steps=3)),
    ("sgd dampening maximize multi-tensor", lambda k, xp: check_sgd(k, xp, [1, 33, 4100], momentum=0.9, nesterov=False,
                                                                    weight_decay=1e-4, dampening=0.3, maximize=True,
                                                                    steps=3)),
    ("adagrad multi-tensor", lambda k, xp: check_adagrad(k, xp, [1, 33, 4100], lr_decay=0.01, weight_decay=1e-4)),
    ("adadelta multi-tensor", lambda k, xp: check_adadelta(k, xp, [1, 33, 4100], rho=0.9, weight_decay=1e-4)),
]


def run_checks(k: Any, xp: Any) -> bool:
    """Print one pass/fail line per kernel check (worst output's error); True when all pass."""
    from .selftest_window import WINDOW_QUICK  # imported here: it imports compare() from this module

    all_ok = True
    for title, check in QUICK + WINDOW_QUICK:
        start = time.perf_counter()
        results = check(k, xp)
        worst = max(results, key=lambda r: (not r.ok, r.max_err))
        ok = all(r.ok for r in results)
        all_ok &= ok
        print(f"  {'PASS' if ok else 'FAIL'}  {title:<52} max err {worst.max_err:.2e} ({worst.name})"
              f"  [{time.perf_counter() - start:.2f}s]")
    return all_ok


def _gpu_timings(k: Any, cp: Any) -> None:
    """Median device time of each fused entry point vs its reference on the same GPU arrays."""
    rng = np.random.default_rng(0)
    f32 = lambda *shape: cp.asarray(rng.normal(size=shape).astype(np.float32))  # noqa: E731
    logits, target = f32(8192, 1000), cp.asarray(rng.integers(0, 1000, size=8192))
    _, lse = ref.softmax_cross_entropy_forward(logits, target, -100, 0.0, "mean")
    bn_x, bn_dy, w, b = f32(256, 64, 28, 28), f32(256, 64, 28, 28), f32(64), f32(64)
    rm, rv = cp.zeros(64, np.float32), cp.ones(64, np.float32)
    _, mean, invstd = ref.batch_norm_forward_train(bn_x, w, b, None, None, 0.1, 1e-5)
    params = [f32(s) for s in (784 * 256, 256, 256, 256, 2560, 10)] * 8
    grads, m, v = [cp.ones_like(p) for p in params], [cp.zeros_like(p) for p in params], [cp.zeros_like(p) for p in params]
    adam = dict(step=1, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, decoupled=True)
    sgd = dict(lr=1e-3, momentum=0.9, weight_decay=0.0, nesterov=True)
    adagrad = dict(step=1, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10)
    adadelta = dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0)
    cases = {
        "xent forward 8192x1000 mean": lambda kk: kk.softmax_cross_entropy_forward(logits, target, -100, 0.0, "mean"),
        "xent backward 8192x1000 mean": lambda kk: kk.softmax_cross_entropy_backward(
            cp.ones((), np.float32), logits, target, lse, -100, 0.0, "mean"),
        "batchnorm train 256x64x28x28": lambda kk: kk.batch_norm_forward_train(bn_x, w, b, rm, rv, 0.1, 1e-5),
        "batchnorm eval 256x64x28x28": lambda kk: kk.batch_norm_forward_eval(bn_x, w, b, rm, rv, 1e-5),
        "batchnorm backward 256x64x28x28": lambda kk: kk.batch_norm_backward(bn_dy, bn_x, w, mean, invstd),
        "adamw, 48 tensors (1.6M params)": lambda kk: kk.adam_step(params, grads, m, v, **adam),
        "sgd nesterov, 48 tensors": lambda kk: kk.sgd_step(params, grads, m, **sgd),
        "adam amsgrad, 48 tensors": lambda kk: kk.adam_step(params, grads, m, v, v, **adam, amsgrad=True),
        "adagrad, 48 tensors": lambda kk: kk.adagrad_step(params, grads, v, **adagrad),
        "adadelta, 48 tensors": lambda kk: kk.adadelta_step(params, grads, m, v, **adadelta),
    }
    for title, fn in cases.items():
        times = []
        for impl in (k, ref):
            fn(impl)  # warm-up: compiles the module on first use
            start, end = cp.cuda.Event(), cp.cuda.Event()
            samples = []
            for _ in range(10):
                start.record()
                fn(impl)
                end.record()
                end.synchronize()
                samples.append(cp.cuda.get_elapsed_time(start, end))
            times.append(float(np.median(samples)))
        print(f"  {title:<36} fused {times[0]:8.3f} ms   reference {times[1]:8.3f} ms   x{times[1] / times[0]:.1f}")


def main() -> int:
    """Run on the GPU when CuPy sees one, else through the CPU emulator; exit status 1 on any failure."""
    from . import kernels

    try:
        import cupy as cp

        cp.zeros(1).sum()
        on_gpu = True
    except Exception as exc:  # no CuPy, no driver, or no device
        on_gpu = False
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if on_gpu:
        print(f"minitorch selftest on GPU: {cp.cuda.runtime.getDeviceProperties(0)['name'].decode()}")
        ok = run_checks(kernels.cuda_kernels(), cp)
        print("timings (median of 10):")
        _gpu_timings(kernels.cuda_kernels(), cp)
    else:
        print(f"minitorch selftest: no CUDA device ({reason}); running the kernels through the CPU emulator")
        try:
            emulated = kernels.emulated_kernels()
        except ImportError as exc:
            print(f"  cannot run the emulator either: {exc}")
            return 2
        ok = run_checks(emulated, np)
    print("all kernels match their references" if ok else "SOME KERNELS DISAGREE WITH THEIR REFERENCES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
