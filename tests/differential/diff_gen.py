"""Random programs over the public API, built statement by statement while PyTorch runs them.

Running PyTorch during generation tells the generator each variable's shape and dtype (so most
calls are well-formed and a few are deliberately not), and its records are the torch side of the
comparison. Inputs are small literals: integer-valued floats (ties), kink points (0, boundaries),
or rounded normals; dtypes float32/float64/int64/int32/uint8/bool; shapes 0-d to 3-d, some empty.
"""
from __future__ import annotations

import random
import re
from typing import Any, Callable

import torch

from diff_harness import Stmt, backward_stmt, execute, namespace

DTYPES = ["float32"] * 8 + ["float64"] * 3 + ["int64"] * 3 + ["int32", "uint8", "bool", "bool"]
ALIASES = {"float32": "T.float", "float64": "T.double", "int64": "T.long", "int32": "T.int"}
SCALARS = ["2", "-1", "0", "3", "0.5", "-1.5", "2.0", "1e-3", "True",
           "np.float32(2.5)", "np.float64(-0.5)", "np.int64(3)", "np.int32(2)"]


class Gen:
    """Builds one program; `self.ns` is PyTorch's namespace after the statements so far."""

    def __init__(self, seed: Any) -> None:
        self.seed, self.rng = seed, random.Random(seed)
        self.ns = namespace("torch")
        self.stmts: list[Stmt] = []
        self.records: list[tuple] = []
        self.n = 0
        self.leaves: list[str] = []  # leaves created with requires_grad=True
        self.tainted: set[str] = set()  # values that went through float32 arithmetic

    # -- statements ------------------------------------------------------------------------
    def fresh(self) -> str:
        self.n += 1
        return f"x{self.n}"

    def emit(self, src: str, op: str, outs: list[str], leaf: bool = False) -> bool:
        """Append a statement and run it on PyTorch; whether it ran without raising."""
        refs = [r for r in re.findall(r"\bx\d+\b", src) if isinstance(self.ns.get(r), torch.Tensor)]
        loose = any(self.ns[r].dtype == torch.float32 or r in self.tainted for r in refs)
        stmt = Stmt(src, op, outs, leaf, loose=loose)
        rec = execute(stmt, self.ns)
        if loose:
            self.tainted.update(outs)
        self.stmts.append(stmt)
        self.records.append(rec)
        return rec[0] == "ok"

    def assign(self, expr: str, op: str, n_out: int = 1) -> list[str]:
        """`x7 = expr` (or `x7, x8 = expr`); the names that now hold tensors."""
        names = [self.fresh() for _ in range(n_out)]
        ok = self.emit(f"{', '.join(names)} = {expr}", op, names)
        return [n for n in names if ok and isinstance(self.ns.get(n), torch.Tensor)]

    # -- the pool of tensors -----------------------------------------------------------------
    def val(self, name: str) -> torch.Tensor:
        return self.ns[name]

    def tensors(self, pred: Callable[[torch.Tensor], bool] | None = None) -> list[str]:
        return [k for k, v in self.ns.items() if isinstance(v, torch.Tensor) and k.startswith("x")
                and (pred is None or pred(v))]

    def pick(self, pred: Callable[[torch.Tensor], bool] | None = None) -> str | None:
        """A tensor from the pool, favouring the newest (programs are chains more often than trees)."""
        names = self.tensors(pred)
        if not names:
            return None
        return names[-1] if self.rng.random() < 0.5 else self.rng.choice(names)

    def pick_float(self) -> str:
        return self.pick(lambda v: v.is_floating_point()) or self.leaf(dtype=self.rng.choice(["float32", "float64"]))

    # -- literals ----------------------------------------------------------------------------
    def shape(self) -> tuple[int, ...]:
        r = self.rng.random()
        if r < 0.1:
            return ()
        if r < 0.15:
            return self.rng.choice([(0,), (2, 0), (0, 3), (3, 0, 2)])
        nd = 1 if r < 0.45 else 2 if r < 0.8 else 3
        return tuple(self.rng.randint(1, 4) for _ in range(nd))

    def bshape(self, s: tuple[int, ...]) -> tuple[int, ...]:
        """A shape that broadcasts with s (now and then one that does not)."""
        r = self.rng.random()
        if r < 0.3:
            return s
        if r < 0.37 and s and s[-1] > 0:
            return s[:-1] + (s[-1] + 1,)
        t = [1 if self.rng.random() < 0.3 else d for d in s[len(s) - self.rng.randint(0, len(s)):]]
        if len(t) < 3 and self.rng.random() < 0.15:
            t.insert(0, self.rng.randint(1, 2))
        return tuple(t)

    def values(self, shape: tuple[int, ...], dtype: str, mode: str) -> Any:
        rng = self.rng
        if not shape:
            return self.values((1,), dtype, mode)[0]
        if len(shape) > 1:
            return [self.values(shape[1:], dtype, mode) for _ in range(shape[0])]
        if dtype == "bool":
            return [rng.random() < 0.5 for _ in range(shape[0])]
        if dtype.startswith(("int", "uint")):
            lo = 0 if dtype == "uint8" else -3
            return [rng.randint(lo, 4) for _ in range(shape[0])]
        if mode == "ties":
            return [float(rng.randint(-2, 2)) for _ in range(shape[0])]
        if mode == "kinks":
            return [rng.choice([-1.0, 0.0, 0.0, 0.5, 1.0, 2.0]) for _ in range(shape[0])]
        return [round(rng.gauss(0, 1.5), 2) + 0.0 for _ in range(shape[0])]  # + 0.0: no -0.0 literals

    def leaf(self, shape: tuple[int, ...] | None = None, dtype: str | None = None,
             grad: bool | None = None) -> str:
        """Create an input tensor from a literal; returns its name."""
        rng = self.rng
        shape = self.shape() if shape is None else tuple(shape)
        dtype = dtype or rng.choice(DTYPES)
        floating = dtype.startswith("float")
        grad = (floating and rng.random() < 0.6) if grad is None else grad
        if not floating and grad and rng.random() < 0.9:
            grad = False
        kw = []
        inferred = {"float32": True, "int64": True, "bool": True}.get(dtype, False)
        if dtype == "bool" or not (inferred and rng.random() < 0.5):
            if dtype != "bool":
                kw.append(f"dtype={ALIASES[dtype] if dtype in ALIASES and rng.random() < 0.05 else 'T.' + dtype}")
        if grad:
            kw.append("requires_grad=True")
        name = self.fresh()
        if 0 in shape:
            args = ", ".join(map(str, shape))
            kw = kw if any(k.startswith("dtype") for k in kw) else [f"dtype=T.{dtype}"] + kw
            src = f"{name} = T.zeros({args}, {', '.join(kw)})"
        else:
            mode = rng.choice(["ties", "ties", "kinks", "normal", "normal", "normal"])
            src = f"{name} = T.tensor({self.values(shape, dtype, mode)!r}{''.join(', ' + k for k in kw)})"
        if self.emit(src, "tensor", [name], leaf=True) and grad:
            self.leaves.append(name)
        return name

    def scalar(self, choices: list[str] | None = None) -> str:
        return self.rng.choice(choices or SCALARS)

    def partner(self, x: str, scalar_p: float = 0.25) -> str:
        """A second operand for x: a scalar, a pool tensor that broadcasts with it, or a new leaf."""
        rng = self.rng
        if rng.random() < scalar_p:
            return self.scalar()
        xs = tuple(self.val(x).shape)
        if rng.random() < 0.4:
            ok = self.tensors(lambda v: _broadcasts(tuple(v.shape), xs))
            if ok:
                return rng.choice(ok)
        dtype = self.val(x).dtype if rng.random() < 0.6 else None
        return self.leaf(self.bshape(xs), str(dtype).split(".")[-1] if dtype is not None else None)


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(x == y or x == 1 or y == 1 for x, y in zip(reversed(a), reversed(b)))


def finish(g: Gen) -> None:
    """Compare every variable's final value (in-place writes reach views), then backward."""
    names = g.tensors()
    g.emit("pass", "final-state", names)
    g.stmts[-1].loose = bool(g.tainted) or any(g.val(n).dtype == torch.float32 for n in names)
    sinks = g.tensors(lambda v: v.requires_grad and v.is_floating_point())[-3:]
    if not sinks or not g.leaves:
        return
    terms = []
    for s in sinks:
        v = g.val(s)
        if v.numel() > 0 and g.rng.random() < 0.6:
            w = g.values(tuple(v.shape), "float32", "normal")
            terms.append(f"({s} * T.tensor({w!r})).sum()")
        else:
            terms.append(f"{s}.sum()")
    outs = ["loss"] + [f"{leaf}.grad" for leaf in g.leaves if leaf in g.ns]
    stmt = backward_stmt(terms, outs, g.stmts[-1].loose)
    g.stmts.append(stmt)
    g.records.append(execute(stmt, g.ns))


def generate(seed: Any, n_ops: int | None = None) -> tuple[list[Stmt], list[tuple]]:
    """One program: its statements and PyTorch's record of each."""
    from diff_ops import MENU, WEIGHTS  # the op menu builds on Gen
    g = Gen(seed)
    for _ in range(g.rng.randint(1, 2)):
        g.leaf()
    for _ in range(n_ops if n_ops is not None else g.rng.randint(2, 7)):
        g.rng.choices(MENU, WEIGHTS)[0](g)
    finish(g)
    return g.stmts, g.records
