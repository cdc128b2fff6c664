"""The op menu: each function appends one call (or a few) to a program through a Gen."""
from __future__ import annotations

import torch

from diff_gen import Gen

UNARY = ("neg abs exp log sqrt sin cos tanh sigmoid relu square reciprocal sign floor ceil round rsqrt "
         "log1p isnan logical_not").split()
TOPLEVEL_UNARY = "neg abs exp log sqrt sin cos tanh sigmoid relu square sign floor isnan".split()


def dim_arg(g: Gen, nd: int, allow_tuple: bool = True) -> str:
    """A dim for a tensor of nd dims: an int (often negative), a tuple, or now and then out of range."""
    r = g.rng.random()
    span = max(nd, 1)
    if r < 0.05:
        return str(span + 1)
    if allow_tuple and nd >= 2 and r < 0.3:
        dims = g.rng.sample(range(-nd, nd), 2)
        return repr(tuple(dims)) if dims[0] % nd != dims[1] % nd else str(dims[0])
    return str(g.rng.randrange(-span, span))


def unary(g: Gen) -> None:
    x = g.pick() or g.leaf()
    name = g.rng.choice(UNARY)
    r = g.rng.random()
    if r < 0.15 and name in TOPLEVEL_UNARY:
        g.assign(f"T.{name}({x})", name)
    elif r < 0.25:
        g.assign(g.rng.choice([f"-{x}", f"abs({x})", f"{x} ** 0", f"{x} ** 2", f"{x} ** 0.5"]), "unary-operator")
    else:
        g.assign(f"{x}.{name}()", name)


def activation(g: Gen) -> None:
    x = g.pick() or g.leaf()
    nd = g.val(x).ndim
    d = g.rng.randrange(-max(nd, 1), max(nd, 1))
    forms = {"F.relu": f"F.relu({x})", "F.gelu": f"F.gelu({x})", "F.gelu(tanh)": f"F.gelu({x}, approximate='tanh')",
             "F.leaky_relu": f"F.leaky_relu({x}, 0.2)", "F.leaky_relu(kw)": f"F.leaky_relu({x}, negative_slope=0.1)",
             "F.sigmoid": f"F.sigmoid({x})", "F.tanh": f"F.tanh({x})", "F.softmax": f"F.softmax({x}, dim={d})",
             "F.log_softmax": f"F.log_softmax({x}, dim={d})", "softmax": f"{x}.softmax({d})",
             "log_softmax": f"{x}.log_softmax(dim={d})", "T.softmax": f"T.softmax({x}, {d})"}
    op = g.rng.choice(list(forms))
    g.assign(forms[op], op)


BINARY = ["+", "-", "*", "/", "**", "//", "%", "<", "<=", ">", ">=", "==", "!=", "&", "|", "^"]
BIN_METHODS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "lt", "ge", "logical_and"]


def binary(g: Gen) -> None:
    x = g.pick() or g.leaf()
    y = g.partner(x)
    r = g.rng.random()
    if r < 0.65:
        op = g.rng.choice(BINARY)
        if op in "&|^" and g.val(x).is_floating_point() and g.rng.random() < 0.8:
            x = g.pick(lambda v: not v.is_floating_point()) or g.leaf(dtype="bool")
            y = g.partner(x)
        a, b = (y, x) if g.rng.random() < 0.3 else (x, y)
        if not a.startswith("x") and not b.startswith("x"):
            a = x
        g.assign(f"{a} {op} {b}", op)
    elif r < 0.9:
        m = g.rng.choice(BIN_METHODS)
        extra = ", alpha=2" if m in ("add", "sub") and g.rng.random() < 0.3 else ""
        g.assign(f"{x}.{m}({y}{extra})", m)
    else:
        m = g.rng.choice(["add", "mul", "maximum", "minimum", "where"])
        if m == "where":
            c = g.pick(lambda v: v.dtype == torch.bool) or f"({x} > 0)"
            g.assign(f"T.where({c}, {x}, {y})", "where")
        else:
            g.assign(f"T.{m}({x}, {y})", m)


def where_clamp(g: Gen) -> None:
    x = g.pick() or g.leaf()
    s = g.scalar
    r = g.rng.random()
    if r < 0.3:
        g.assign(f"T.where({x} > {s(['0', '1', '-1'])}, {g.partner(x, 0.4)}, {g.partner(x, 0.5)})", "where")
        return
    lo, hi = s(["-1", "0", "0.5", "1", "-1.0", "2"]), s(["0", "1", "1.0", "2", "-1"])
    form = g.rng.choice([f"clamp(min={lo})", f"clamp(max={hi})", f"clamp({lo}, {hi})", f"clamp(min={lo}, max={hi})",
                         f"clip({lo}, {hi})"])
    if g.rng.random() < 0.2:
        g.assign(f"T.clamp({x}, min={lo}, max={hi})", "clamp")
    elif g.rng.random() < 0.1:
        g.assign(f"{x}.clamp(min={g.partner(x, 0)})", "clamp(tensor)")
    else:
        g.assign(f"{x}.{form}", form.split("(")[0])


REDUCE = ["sum", "mean", "prod", "amax", "amin", "var", "std", "max", "min", "argmax", "argmin", "all", "any",
          "logsumexp", "norm", "cumsum"]


def reduction(g: Gen) -> None:
    x = g.pick() or g.leaf()
    nd = g.val(x).ndim
    name = g.rng.choice(REDUCE)
    d = dim_arg(g, nd, allow_tuple=name not in ("max", "min", "argmax", "argmin", "cumsum"))
    kd = g.rng.choice(["", ", keepdim=True", ", keepdim=False"])
    r = g.rng.random()
    if name in ("max", "min") and r < 0.5:
        g.assign(f"{x}.{name}({g.rng.choice([d, 'dim=' + d])}{kd})", f"{name}(dim)", n_out=2)
    elif name == "cumsum":
        g.assign(f"{x}.cumsum({g.rng.choice([d, 'dim=' + d])})", name)
    elif name == "logsumexp":
        g.assign(f"T.logsumexp({x}, dim={d}{kd})", name)
    elif name in ("var", "std") and r < 0.4:
        g.assign(f"{x}.{name}(dim={d}, {g.rng.choice(['unbiased=False', 'correction=0', 'keepdim=True'])})", name)
    elif name == "norm" and r < 0.5:
        g.assign(f"{x}.norm(p={g.rng.choice([1, 2])}, dim={d}{kd})", name)
    elif r < 0.35:
        g.assign(f"{x}.{name}({'keepdim=True' if name.startswith('arg') and r < 0.1 else ''})", name)
    elif r < 0.5 and name not in ("norm",):
        g.assign(f"T.{name}({x}, {d}{kd})", name)
    else:
        g.assign(f"{x}.{name}(dim={d}{kd})", name)


def shape_op(g: Gen) -> None:
    x = g.pick() or g.leaf()
    v = g.val(x)
    nd, shape, rng = v.ndim, tuple(v.shape), g.rng
    span = max(nd, 1)
    perm = list(range(nd))
    rng.shuffle(perm)
    expand = tuple(3 if s == 1 else -1 for s in shape)
    choices = {
        "reshape": f"{x}.reshape(-1)", "reshape(shape)": f"{x}.reshape({tuple(reversed(shape))!r})",
        "reshape(-1,k)": f"{x}.reshape(-1, {rng.choice([1, 2, 3])})", "view": f"{x}.view({v.numel()})",
        "view(shape)": f"{x}.view(*{list(reversed(shape))!r})",
        "permute": f"{x}.permute({', '.join(map(str, perm))})", "permute(tuple)": f"T.permute({x}, {tuple(perm)!r})",
        "transpose": f"{x}.transpose({rng.randrange(-span, span)}, {rng.randrange(-span, span)})",
        "unsqueeze": f"{x}.unsqueeze({rng.randrange(-nd - 1, nd + 1)})",
        "squeeze": f"{x}.squeeze()", "squeeze(dim)": f"{x}.squeeze({rng.randrange(-span, span)})",
        "flatten": f"{x}.flatten()", "flatten(start)": f"{x}.flatten({rng.randrange(-span, span)})",
        "T": f"{x}.T", "mT": f"{x}.mT", "t": f"{x}.t()",
        "expand": f"{x}.expand({', '.join(map(str, (2,) + expand if rng.random() < 0.3 else expand))})",
        "repeat": f"{x}.repeat({', '.join(str(rng.randint(1, 2)) for _ in range(max(nd, 1)))})",
        "flip": f"{x}.flip({rng.randrange(-span, span)})", "clone": f"{x}.clone()", "detach": f"{x}.detach()",
        "cat": f"T.cat([{x}, {x}], dim={rng.randrange(-span, span)})",
        "stack": f"T.stack([{x}, {x}], {rng.randrange(-nd - 1, nd + 1)})",
    }
    op = rng.choice(list(choices))
    g.assign(choices[op], op)


def index(g: Gen) -> None:
    x = g.pick() or g.leaf()
    v = g.val(x)
    shape, rng = tuple(v.shape), g.rng
    n0 = shape[0] if shape else 1
    keys = {
        "int": str(rng.randrange(-n0, n0 + 1) if n0 else 0), "slice": rng.choice(["1:", ":-1", "::2", "1:3"]),
        "None": "None", "ellipsis": "..., 0", "tuple": f"{rng.randrange(n0) if n0 else 0}, 1:",
        "slice-int": ":, -1", "bool-mask": f"{x} > 0",
        "int-tensor": f"T.tensor({[rng.randrange(-n0, n0) for _ in range(rng.randint(1, 4))] if n0 else []!r})",
        "list": repr([rng.randrange(n0) for _ in range(2)] if n0 else [0]),
    }
    mask = g.pick(lambda t: t.dtype == torch.bool and t.ndim > 0 and tuple(t.shape) == shape[: t.ndim])
    if mask:
        keys["bool-tensor"] = mask
    op = rng.choice(list(keys))
    if rng.random() < 0.2:  # setitem: an in-place write through an index
        value = g.partner(x, 0.7) if rng.random() < 0.5 else g.scalar(["0", "1.5", "-1", "True"])
        g.emit(f"{x}[{keys[op]}] = {value}", f"setitem[{op}]", [x])
    else:
        g.assign(f"{x}[{keys[op]}]", f"getitem[{op}]")


def matmul(g: Gen) -> None:
    rng = g.rng
    m, n, k, b = (rng.randint(1, 3) for _ in range(4))
    pairs = [((n,), (n,)), ((m, n), (n,)), ((n,), (n, k)), ((m, n), (n, k)), ((b, m, n), (n, k)),
             ((b, m, n), (b, n, k)), ((1, m, n), (b, n, k)), ((m, n), (b, n, k)), ((m, n), (n + 1, k)), ((0, n), (n, k))]
    sa, sb = rng.choice(pairs)
    dt = rng.choice(["float32", "float32", "float64"])
    a = g.leaf(sa, dt)
    c = g.leaf(sb, dt if rng.random() < 0.9 else rng.choice(["float64", "int64"]))
    form = rng.choice([f"{a} @ {c}", f"T.matmul({a}, {c})", f"{a}.matmul({c})"]
                      + ([f"{a}.mm({c})"] if len(sa) == len(sb) == 2 or rng.random() < 0.1 else []))
    if rng.random() < 0.15 and len(sb) == 2:
        bias = g.leaf((sb[1],), dt)
        g.assign(f"F.linear({a}, {c}.t(), {bias})" if rng.random() < 0.7 else f"F.linear({a}, {c}.t())", "F.linear")
    else:
        g.assign(form, form.split("(")[0].split(".")[-1] if "(" in form else "@")


def loss(g: Gen) -> None:
    rng = g.rng
    red = rng.choice(["", ", reduction='sum'", ", reduction='none'", ", reduction='mean'"])
    dt = rng.choice(["float32", "float32", "float64"])
    if rng.random() < 0.55:
        n, c = rng.randint(1, 4), rng.randint(2, 4)
        extra = rng.choice([(), (2,)])
        x = g.leaf((n, c) + extra, dt, grad=True)
        if rng.random() < 0.15:
            t = g.leaf((n, c) + extra, dt, grad=False)
            g.assign(f"F.cross_entropy({x}, {t}.softmax(1){red})", "F.cross_entropy(probs)")
            return
        ignore = rng.choice([None, None, -100, 0, 1])
        top = c if rng.random() < 0.05 else c - 1  # now and then a label out of range
        labels = [[rng.randint(0, top) for _ in range(extra[0])] if extra else rng.randint(0, top) for _ in range(n)]
        if ignore == -100 and n > 0:
            (labels[0] if extra else labels).__setitem__(0, -100)
        kw = red + (f", ignore_index={ignore}" if ignore is not None else "")
        kw += rng.choice(["", "", ", label_smoothing=0.1", ", label_smoothing=0.25"])
        g.assign(f"F.cross_entropy({x}, T.tensor({labels!r}){kw})", "F.cross_entropy")
        return
    x = g.pick(lambda v: v.is_floating_point() and v.requires_grad) or g.leaf(None, dt, grad=True)
    s = tuple(g.val(x).shape)
    y = g.leaf(s if rng.random() < 0.85 else g.bshape(s), str(g.val(x).dtype).split(".")[-1], grad=False)
    name = rng.choice(["mse_loss", "l1_loss", "huber_loss", "huber_loss(delta)"])
    delta = ", delta=0.5" if name.endswith("(delta)") else ""
    g.assign(f"F.{name.split('(')[0]}({x}, {y}{red}{delta})", "F." + name)


def inplace(g: Gen) -> None:
    rng = g.rng
    x = g.pick() or g.leaf()
    op = rng.choice(["add_", "sub_", "mul_", "div_", "clamp_", "zero_", "fill_", "copy_", "+=", "-=", "*=", "/=",
                     "data.mul_", "requires_grad_"])
    if op in ("+=", "-=", "*=", "/="):
        src = f"{x} {op} {g.partner(x, 0.5)}"
    elif op == "clamp_":
        src = f"{x}.clamp_(min={g.scalar(['0', '-1', '0.5'])})"
    elif op == "zero_":
        src = f"{x}.zero_()"
    elif op == "fill_":
        src = f"{x}.fill_({g.scalar(['1.5', '0', '2', 'True'])})"
    elif op == "data.mul_":
        src = f"{x}.data.mul_(2)"
    elif op == "requires_grad_":
        src = f"{x}.requires_grad_()"
        if g.val(x).is_leaf and g.val(x).is_floating_point() and x not in g.leaves:
            g.leaves.append(x)
    else:
        y = g.partner(x, 0.5)
        extra = ", alpha=2" if op in ("add_", "sub_") and rng.random() < 0.3 else ""
        src = f"{x}.{op}({y}{extra})"
    no_grad = rng.random() < (0.6 if g.val(x).is_leaf and g.val(x).requires_grad else 0.15)
    if no_grad and op != "requires_grad_":
        src = f"with T.no_grad():\n    {src}"
    g.emit(src, op + ("[no_grad]" if no_grad else ""), [x])


def creation(g: Gen) -> None:
    rng = g.rng
    forms = {"arange": "T.arange(5)", "arange(float)": "T.arange(0, 1, 0.25)", "full(int)": "T.full((2, 3), 4)",
             "full(float)": "T.full((2,), 4.0)", "full(bool)": "T.full((2,), True)", "zeros": "T.zeros(2, 3)",
             "ones(dtype)": "T.ones((2, 3), dtype=T.int32)", "eye": "T.eye(3)", "linspace": "T.linspace(0, 1, 5)",
             "tensor(mixed)": "T.tensor([1, 2.5])", "tensor(int)": "T.tensor([1, 2])", "tensor(0d)": "T.tensor(3)",
             "tensor(bool)": "T.tensor([True, False])", "tensor(empty)": "T.tensor([])"}
    x = g.pick()
    if x is not None:
        forms.update({"zeros_like": f"T.zeros_like({x})", "ones_like": f"T.ones_like({x})",
                      "full_like": f"T.full_like({x}, 2)", "float": f"{x}.float()", "double": f"{x}.double()",
                      "long": f"{x}.long()", "bool": f"{x}.bool()", "to(float64)": f"{x}.to(T.float64)",
                      "type(float64)": f"{x}.type(T.float64)"})
    op = rng.choice(list(forms))
    g.assign(forms[op], op)


def new_ops(g: Gen) -> None:
    rng = g.rng
    x = g.pick(lambda v: v.ndim >= 1 and v.numel() > 0) or g.leaf((2, 3), "float32", grad=True)
    v = g.val(x)
    n0, d = v.shape[0], rng.randrange(-v.ndim, v.ndim)
    k = rng.randint(1, max(1, v.shape[d]))
    idx = g.values((rng.randint(1, 3),) + tuple(v.shape[1:]), "uint8", "")
    idx = repr(idx)
    forms = {
        "gather": f"{x}.gather(0, T.tensor({_clip(idx, n0)}))",
        "masked_fill": f"{x}.masked_fill({x} > 0, {g.scalar(['0', '-1.5', '2'])})",
        "topk": f"{x}.topk({k}, dim={d}).values", "topk(smallest)": f"T.topk({x}, {k}, largest=False)[0]",
        "sort": f"{x}.sort(dim={d}, descending=True).values", "index_select": f"{x}.index_select(0, T.tensor([0, 0]))",
        "one_hot": f"F.one_hot(T.tensor([0, 2, 1, 2]), {rng.choice(['3', 'num_classes=4', '-1'])})",
        "cumsum": f"T.cumsum({x}, dim={d})", "prod": f"{x}.prod({d})", "amax": f"{x}.amax(dim={d})",
        "isclose": f"T.allclose({x}, {x} * 1.0)", "item": f"{x}.sum().item()", "chunk": f"{x}.chunk(2, {d})[0]",
        "split": f"T.split({x}, 1, dim={d})[-1]", "expand_as": f"{x}[:1].expand_as({x})",
    }
    op = rng.choice(list(forms))
    if op.startswith(("topk", "sort")) and v.unique().numel() < v.numel():
        op = "cumsum"  # which of equal values topk/sort return first is unspecified in PyTorch
    g.assign(forms[op], op)


def _clip(literal: str, n0: int) -> str:
    """Index literals in [0, n0) (uint8 draws are 0..4; fold them into range, repeats included)."""
    import ast
    def fold(v):  # noqa: E306
        return [fold(u) for u in v] if isinstance(v, list) else v % n0
    return repr(fold(ast.literal_eval(literal)))


MENU = [unary, activation, binary, where_clamp, reduction, shape_op, index, matmul, loss, inplace, creation, new_ops]
WEIGHTS = [10, 8, 20, 6, 14, 10, 9, 6, 7, 12, 3, 5]
