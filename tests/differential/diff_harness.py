"""Run a program (a list of source statements) on minitorch and on PyTorch and compare what each step did.

A program is plain Python over two names, `T` (the library: `torch` or `minitorch`) and `F` (its
`nn.functional`), so every mismatch prints as a standalone repro. Each statement names the
expressions to compare after it ran (`outs`): shapes, dtypes, values, requires_grad, or which
exception it raised. A run stops at the first mismatch; later statements would only compare
consequences of it.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import minitorch as mt

torch.set_num_threads(1)  # tiny tensors: waking a thread pool costs more than the op (and timings jitter)

# Exceptions PyTorch users catch; either library may pick any of them for the same mistake.
ERROR_FAMILY = (RuntimeError, IndexError, ValueError, TypeError)
TOL = {"float16": (1e-3, 1e-3), "float32": (1e-5, 1e-5), "float64": (1e-9, 1e-9)}


@dataclass
class Stmt:
    """One statement; `outs` are expressions compared after it ran; `op` labels it for grouping."""
    src: str
    op: str
    outs: list[str] = field(default_factory=list)
    leaf: bool = False  # a creation statement (minimisation keeps the others' labels)
    terms: list[str] | None = None  # the backward statement: the loss is the sum of these terms
    loose: bool = False  # float32 arithmetic upstream: float64 results get float32's tolerance

    def compiled(self) -> tuple[Any, list[Any]]:
        if "_code" not in self.__dict__:
            self.__dict__["_code"] = (compile(self.src, "<program>", "exec"),
                                      [compile(o, "<out>", "eval") for o in self.outs])
        return self.__dict__["_code"]


@dataclass
class Mismatch:
    seed: Any
    index: int          # the statement where the libraries parted
    category: str       # value, dtype, shape, requires_grad, raises, no-raise, error-type, missing-api, grad-...
    op: str             # the op label used for grouping
    detail: str         # what differed, in words (both sides)
    stmts: list[Stmt]   # the program up to and including the statement

    @property
    def key(self) -> tuple[str, str]:
        return (self.category, self.op)

    def repro(self) -> str:
        """The program as a standalone script, with what each library did at the last line."""
        lines = ["import numpy as np", "import torch as T  # or: import minitorch as T",
                 "import torch.nn.functional as F  # or: import minitorch.nn.functional as F"]
        lines += [s.src for s in self.stmts]
        last = self.stmts[-1]
        if last.outs:
            lines.append(f"print({', '.join(last.outs)})")
        lines += [f"# {line}" for line in self.detail.splitlines()]
        return "\n".join(lines)


def namespace(lib: str) -> dict[str, Any]:
    if lib == "torch":
        return {"T": torch, "F": torch.nn.functional, "np": np}
    return {"T": mt, "F": mt.nn.functional, "np": np}


def snapshot(v: Any) -> Any:
    """A library-neutral record of a value: tensors as (shape, dtype, numpy copy, requires_grad)."""
    if isinstance(v, torch.Tensor):
        return ("tensor", tuple(v.shape), str(v.dtype).split(".")[-1], v.detach().numpy().copy(), v.requires_grad)
    if isinstance(v, mt.Tensor):
        try:
            arr = np.array(v.detach().numpy(), copy=True)
        except Exception as e:  # noqa: BLE001 - a tensor that cannot be read is itself a finding
            return ("broken", f"{type(e).__name__}: {e}")
        return ("tensor", tuple(v.shape), str(v.dtype).split(".")[-1], arr, bool(v.requires_grad))
    if isinstance(v, (tuple, list)):
        return ("seq", type(v).__name__, [snapshot(x) for x in v])
    if v is None or isinstance(v, (bool, int, float, np.generic)):
        return ("py", type(v).__name__ if not isinstance(v, np.generic) else "np", v)
    return ("other", type(v).__name__, repr(v)[:80])


def execute(stmt: Stmt, ns: dict[str, Any]) -> tuple:
    """Run one statement: ("ok", [snapshots of outs]) or ("raise", type, message, exception class)."""
    code, outs = stmt.compiled()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(code, ns)
            return ("ok", [snapshot(eval(o, ns)) for o in outs])
    except Exception as e:  # noqa: BLE001 - raising is what we compare
        msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        return ("raise", type(e).__name__, msg, type(e))


def _values_differ(a: np.ndarray, b: np.ndarray, dtype: str, exact: bool = False) -> str | None:
    if a.shape != b.shape:
        return "shape"
    if a.size == 0:
        return None
    if dtype in TOL:
        rtol, atol = (0.0, 0.0) if exact else TOL[dtype]
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        same = np.isclose(a64, b64, rtol=rtol, atol=atol, equal_nan=True) | ((a64 == b64) & np.isinf(a64))
        return None if same.all() else "value"
    return None if np.array_equal(a, b) else "value"


def compare_value(t: Any, m: Any, exact: bool = False, loose: bool = False) -> tuple[str, str] | None:
    """(category, detail) where two snapshots differ, else None (exact: no tolerance, for literals;
    loose: float32 arithmetic upstream, so float64 values are compared at float32's tolerance)."""
    if t[0] != m[0]:
        return ("output-type", f"torch gives {t[0]} {t[1]!r}, minitorch gives {m[0]} {m[1]!r}")
    if t[0] == "tensor":
        _, ts, td, ta, tg = t
        _, ms, md, ma, mg = m
        if ts != ms:
            return ("shape", f"torch shape {ts}, minitorch shape {ms}")
        if td != md:
            return ("dtype", f"torch {td}, minitorch {md}")
        if _values_differ(ta, ma, "float32" if loose and td == "float64" else td, exact):
            return ("value", f"torch {_show(ta)}\nminitorch {_show(ma)}{_max_diff(ta, ma)}")
        if tg != mg:
            return ("requires_grad", f"torch requires_grad={tg}, minitorch requires_grad={mg}")
        return None
    if t[0] == "seq":
        if len(t[2]) != len(m[2]):
            return ("output-type", f"torch gives {len(t[2])} values, minitorch {len(m[2])}")
        for a, b in zip(t[2], m[2]):
            if (d := compare_value(a, b, exact, loose)) is not None:
                return d
        return None
    if t[0] == "py":
        a, b = t[2], m[2]
        if (a is None) != (b is None):
            return ("none", f"torch gives {a!r}, minitorch gives {b!r}")
        if a is not None and not (a == b or math.isclose(float(a), float(b), rel_tol=1e-5, abs_tol=1e-6)
                                  or (a != a and b != b)):
            return ("value", f"torch {a!r}, minitorch {b!r}")
        return None
    return None if t == m else ("value", f"torch {t!r}, minitorch {m!r}")


def _show(a: np.ndarray) -> str:
    return np.array2string(a, precision=6, threshold=30)


def _max_diff(a: np.ndarray, b: np.ndarray) -> str:
    """The largest difference, when the printed values would look alike."""
    if a.dtype.kind != "f" or a.size == 0:
        return ""
    with np.errstate(all="ignore"):
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    d = d[np.isfinite(d)]
    return f"\n(max |difference| {d.max():.3g})" if d.size and 0 < d.max() < 1e-3 else ""


def compare(stmt: Stmt, rt: tuple, rm: tuple) -> tuple[str, str] | None:
    """(category, detail) of the first difference between torch's record and minitorch's."""
    if "NameError" in (rt[1], rm[1]):  # a minimisation step removed a definition: not a finding
        return None if rt[1] == rm[1] else ("undefined-name", "")
    if rt[0] == "raise" and rm[0] == "raise":
        if not issubclass(rm[3], ERROR_FAMILY) and rm[3] is not rt[3]:
            return ("error-type", f"torch raises {rt[1]}: {rt[2]}\nminitorch raises {rm[1]}: {rm[2]}")
        return None
    if rm[0] == "raise":
        if rm[1] == "AttributeError" and "has no attribute" in rm[2]:
            cat = "missing-api"
        elif rm[1] == "TypeError" and any(s in rm[2] for s in ("argument", "takes", "got an unexpected")):
            cat = "signature"
        else:
            cat = "raises"
        return (cat, f"torch: ok\nminitorch raises {rm[1]}: {rm[2]}")
    if rt[0] == "raise":
        return ("no-raise", f"torch raises {rt[1]}: {rt[2]}\nminitorch: no error")
    for expr, a, b in zip(stmt.outs, rt[1], rm[1]):
        if (d := compare_value(a, b, stmt.leaf, stmt.loose)) is not None:
            return (d[0], f"{expr}: {d[1]}")
    return None


def prefix(cat: str, stmt: Stmt) -> str:
    """Mismatches in the backward statement are about gradients."""
    if stmt.op == "backward":
        return {"raises": "backward-raises", "no-raise": "backward-no-raise"}.get(cat, "grad-" + cat)
    return cat


def run_program(stmts: list[Stmt], seed: Any = None, torch_records: list | None = None,
                lib: str = "minitorch") -> Mismatch | None:
    """Run on both libraries (torch's records may be given); the first mismatch, or None."""
    nt, nm = namespace("torch"), namespace(lib)
    for i, stmt in enumerate(stmts):
        rt = torch_records[i] if torch_records is not None else execute(stmt, nt)
        rm = execute(stmt, nm)
        diff = compare(stmt, rt, rm)
        if diff is not None:
            cat = prefix(diff[0], stmt)
            op = stmt.op
            if stmt.op in ("backward", "final-state"):  # name the ops the gradient or the state flowed through
                op = "+".join(dict.fromkeys(s.op for s in stmts[:i] if not s.leaf)) or stmt.op
                op = f"{stmt.op}[{op}]"
            return Mismatch(seed, i, cat, op, diff[1], stmts[: i + 1])
    return None


def backward_stmt(terms: list[str], outs: list[str], loose: bool = True) -> Stmt:
    """loss = sum of terms; loss.backward(); compare the loss and every leaf's .grad."""
    return Stmt(f"loss = {' + '.join(terms)}\nloss.backward()", "backward", outs, terms=list(terms), loose=loose)


def minimize(mm: Mismatch, lib: str = "minitorch") -> Mismatch:
    """Greedily drop statements, loss terms and compared expressions while the same mismatch remains."""
    base_op = mm.op.split("[")[0]

    def same(candidate: list[Stmt]) -> Mismatch | None:
        got = run_program(candidate, mm.seed, lib=lib)
        ok = got is not None and got.category == mm.category and got.op.split("[")[0] == base_op \
            and got.index == len(candidate) - 1
        return got if ok else None

    stmts = list(mm.stmts)
    for _ in range(3):  # a pass can enable another (fewer compared outputs free their producers)
        before = len(stmts), len(stmts[-1].outs), len(stmts[-1].terms or [])
        for i in range(len(stmts) - 2, -1, -1):
            if (got := same(stmts[:i] + stmts[i + 1:])) is not None:
                stmts, mm = stmts[:i] + stmts[i + 1:], got
        last = stmts[-1]
        for j in range(len(last.terms or []) - 1, -1, -1):
            if len(last.terms) > 1:
                trial = backward_stmt(last.terms[:j] + last.terms[j + 1:], last.outs, last.loose)
                if (got := same(stmts[:-1] + [trial])) is not None:
                    stmts, last, mm = stmts[:-1] + [trial], trial, got
        for j in range(len(last.outs) - 1, -1, -1):  # keep only the compared expressions that differ
            if len(last.outs) > 1:
                trial = Stmt(last.src, last.op, last.outs[:j] + last.outs[j + 1:], last.leaf, last.terms, last.loose)
                if (got := same(stmts[:-1] + [trial])) is not None:
                    stmts, last, mm = stmts[:-1] + [trial], trial, got
        if before == (len(stmts), len(stmts[-1].outs), len(stmts[-1].terms or [])):
            break
    return mm
