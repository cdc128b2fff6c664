"""Module hooks as in PyTorch: registration, the hooked call, and the identity nodes behind backward hooks.

A module with no hooks never reaches this file: Module.__call__ checks one flag. A full backward hook
needs the gradients of all of a module's inputs at once, but a minitorch Function has one output. So,
as PyTorch's BackwardHookFunction but with single-output nodes, each group of tensors (the inputs, or
the outputs) goes through one `BackwardHookGather` node, whose empty output feeds one identity per tensor:

    x1, x2 -> BackwardHookGather -> token -> BackwardHookFunction(token; x1) -> x1'   (the module sees x1', x2')
                                         \\-> BackwardHookFunction(token; x2) -> x2'

In backward each identity hands its gradient to the gather node and sends an empty one up the token;
the engine runs the gather node after every identity (it is their parent), so its backward sees all of
the group's gradients together (None for a tensor no gradient reached), calls the hooks, and returns
the (possibly replaced) gradients to x1, x2.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any, Callable

from ..autograd import Context, Function, is_grad_enabled
from ..tensor import Tensor
from ..utils.hooks import RemovableHandle

HOOK_DICTS = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks", "_forward_hooks_with_kwargs",
              "_forward_hooks_always_called", "_backward_hooks", "_backward_pre_hooks")


def init_hook_dicts(module: Any) -> None:
    """Give a new module its (empty) hook dicts, as PyTorch's Module.__init__ does."""
    for name in HOOK_DICTS:
        object.__setattr__(module, name, OrderedDict())


def register(module: Any, kind: str, hook: Callable, prepend: bool, **flags: bool) -> RemovableHandle:
    """Add `hook` to module.<kind>; each true flag (with_kwargs, always_call) marks it in its side table."""
    if not callable(hook):
        raise TypeError(f"{kind[1:-1].replace('_', ' ')}: the hook must be callable, got {type(hook).__name__}")
    hooks = module.__dict__[kind]
    tables = {"with_kwargs": module.__dict__[f"{kind}_with_kwargs"]} if f"{kind}_with_kwargs" in HOOK_DICTS else {}
    if kind == "_forward_hooks":
        tables["always_call"] = module.__dict__["_forward_hooks_always_called"]
    handle = RemovableHandle(hooks, extra_dict=list(tables.values()))
    hooks[handle.id] = hook
    for flag, on in flags.items():
        if on:
            tables[flag][handle.id] = True
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    object.__setattr__(module, "_has_hooks", True)  # Module.__call__'s one check
    return handle


def has_hooks(module: Any) -> bool:
    """Whether any hook is registered now (`_has_hooks` stays set until the next call finds them removed)."""
    d = module.__dict__
    return bool(d["_forward_pre_hooks"] or d["_forward_hooks"] or d["_backward_hooks"] or d["_backward_pre_hooks"])


def call(module: Any, args: tuple, kwargs: dict) -> Any:
    """module(*args, **kwargs) with its hooks, in PyTorch's order (Module._call_impl)."""
    d = module.__dict__
    if not has_hooks(module):
        object.__setattr__(module, "_has_hooks", False)  # every hook was removed: back to the fast path
        result = module.forward(*args, **kwargs)
        record_call(module, args, result)
        return result
    result, called = None, set()
    try:
        for key, hook in list(d["_forward_pre_hooks"].items()):
            if key in d["_forward_pre_hooks_with_kwargs"]:
                new = hook(module, args, kwargs)
                if new is not None:
                    if not (isinstance(new, tuple) and len(new) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                           f"but got {new}.")
                    args, kwargs = new
            else:
                new = hook(module, args)
                if new is not None:
                    args = new if isinstance(new, tuple) else (new,)
        bw = None
        if d["_backward_hooks"] or d["_backward_pre_hooks"]:
            bw = BackwardHook(module, list(d["_backward_hooks"].values()), list(d["_backward_pre_hooks"].values()))
            args = bw.setup_input_hook(args)
        result = module.forward(*args, **kwargs)
        for key, hook in list(d["_forward_hooks"].items()):
            if key in d["_forward_hooks_always_called"]:
                called.add(key)
            new = hook(module, args, kwargs, result) if key in d["_forward_hooks_with_kwargs"] \
                else hook(module, args, result)
            if new is not None:
                result = new
        if bw is not None:
            if not isinstance(result, (Tensor, tuple)):
                warnings.warn("For backward hooks to be called, module output should be a Tensor or a tuple of "
                              f"Tensors but received {type(result)}", stacklevel=3)
            result = bw.setup_output_hook(result)
    except Exception:
        for key, hook in list(d["_forward_hooks"].items()):
            if key in d["_forward_hooks_always_called"] and key not in called:
                try:
                    new = hook(module, args, kwargs, result) if key in d["_forward_hooks_with_kwargs"] \
                        else hook(module, args, result)
                    if new is not None:
                        result = new
                except Exception as exc:  # PyTorch's rule: the forward's error wins, the hook's is a warning
                    warnings.warn("module forward hook with ``always_call=True`` raised an exception that was "
                                  f"silenced as another error was raised in forward: {exc}", stacklevel=3)
        raise
    record_call(module, args, result)
    return result


def record_call(module: Any, args: tuple, out: Any) -> None:
    """Append (module, input nodes) to the node of each output tensor: the calls a graph drawing groups by."""
    nodes = tuple([a.grad_fn if isinstance(a, Tensor) else None for a in args])
    for o in (out,) if isinstance(out, Tensor) else out:
        fn = o.grad_fn if isinstance(o, Tensor) else None
        # An input returned unchanged (Identity, eval Dropout) is no node of this call.
        if fn is not None and fn not in nodes:
            fn.__dict__.setdefault("module_calls", []).append((module, nodes))


class BackwardHookGather(Function):
    """Meeting point of a group's gradients: forward makes an empty token; backward calls `on_grads`."""

    rule = "each input's grad = the module's backward hooks applied to the grads its identities collected"

    @staticmethod
    def forward(ctx: Context, *arrays: Any, on_grads: Callable[[tuple, Any], tuple], zeros: bool) -> Any:
        ctx.on_grads, ctx.arrived = on_grads, {}
        ctx.like = [(a.shape, a.dtype) for a in arrays] if zeros else [None] * len(arrays)
        return ctx.xp.zeros((0,), dtype=arrays[0].dtype)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        # zeros=True: a gradient that did not arrive is zeros, as PyTorch's engine materialises it for the
        # inputs' BackwardHookFunction; for the outputs' pre-hook it stays None, as in PyTorch.
        xp = ctx.xp
        grads = tuple(ctx.arrived[i] if i in ctx.arrived else None if like is None
                      else xp.zeros(like[0], dtype=like[1]) for i, like in enumerate(ctx.like))
        ctx.arrived.clear()  # a second backward (retain_graph=True) starts empty
        return ctx.on_grads(grads, ctx.backend)


class BackwardHookFunction(Function):
    """x' = x; in backward, x''s gradient goes to the gather node, and an empty one up the token edge."""

    rule = "dtoken = empty;  grad is handed to the gather node, for the module's backward hooks"

    @staticmethod
    def forward(ctx: Context, token: Any, *, array: Any, gather: Context, index: int) -> Any:
        ctx.gather, ctx.index, ctx.empty = gather, index, token
        return array

    @staticmethod
    def backward(ctx: Context, grad: Any) -> Any:
        ctx.gather.arrived[ctx.index] = grad
        return ctx.empty


class BackwardHook:
    """One module call's full backward hooks and backward pre-hooks (torch.utils.hooks.BackwardHook)."""

    def __init__(self, module: Any, hooks: list, pre_hooks: list) -> None:
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs: tuple | None = None
        self.n_inputs = self.n_outputs = -1
        self.input_index: list[int] | None = None
        self.output_index: list[int] | None = None

    def setup_input_hook(self, args: tuple) -> tuple:
        """Route the positional tensor inputs through one gather node that calls the full backward hooks."""
        self.n_inputs = len(args)
        args, self.input_index = _route(args, self._on_input_grads, zeros=True)
        return args

    def setup_output_hook(self, result: Any) -> Any:
        """Route the output tensor(s) through one gather node that calls the backward pre-hooks."""
        outs = result if isinstance(result, tuple) else (result,)
        self.n_outputs = len(outs)
        outs, self.output_index = _route(outs, self._on_output_grads, zeros=False)
        return outs if isinstance(result, tuple) else outs[0]

    def _on_output_grads(self, grads: tuple, backend: Any) -> tuple:
        self.grad_outputs = _pack(self.output_index, _tensors(grads, backend), self.n_outputs)
        for hook in self.pre_hooks:
            new = hook(self.module, self.grad_outputs)
            if new is None:
                continue
            if len(new) != len(self.grad_outputs):
                raise RuntimeError("Backward pre hook returned an invalid number of grad_output, "
                                   f"got {len(new)}, but expected {len(self.grad_outputs)}")
            self.grad_outputs = tuple(new)
        local = self.grad_outputs
        if self.input_index is None:  # no input requires grad: PyTorch calls the hooks here, grad_input all None
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module outputs "
                          "since no inputs require gradients.", stacklevel=2)
            none = (None,) * self.n_inputs
            for hook in self.hooks:
                res = hook(self.module, none, self.grad_outputs)
                if res is not None and not (isinstance(res, tuple) and all(r is None for r in res)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                       "return None or None for all gradients.")
            self.grad_outputs = None
        return tuple(_array(local[i]) for i in self.output_index)

    def _on_input_grads(self, grads: tuple, backend: Any) -> tuple:
        if self.grad_outputs is None:  # the gradient reached the inputs without passing the outputs
            return grads
        res = _pack(self.input_index, _tensors(grads, backend), self.n_inputs)
        for hook in self.hooks:
            new = hook(self.module, res, self.grad_outputs)
            if new is None:
                continue
            if len(new) != len(res):
                raise RuntimeError("Backward hook returned an invalid number of grad_input, "
                                   f"got {len(new)}, but expected {len(res)}")
            res = tuple(new)
        self.grad_outputs = None
        return tuple(_array(res[i]) for i in self.input_index)


def _route(values: tuple, on_grads: Callable[[tuple, Any], tuple], zeros: bool) -> tuple[tuple, list[int] | None]:
    """Pass the tensors of `values` through one gather node when one requires grad: (new values, the tensors'
    indices). Those that require grad come out as identity views; the others as they were (no gradient)."""
    index = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
    if not any(values[i].requires_grad for i in index) or not is_grad_enabled():
        return values, None
    token = BackwardHookGather.apply(*(values[i] for i in index), on_grads=on_grads, zeros=zeros)
    out = list(values)
    for k, i in enumerate(index):
        x = values[i]
        if x.requires_grad:
            out[i] = BackwardHookFunction.apply(token, array=x.array, gather=token.grad_fn, index=k)
            out[i]._vc = x._vc  # one storage: an in-place write through either is seen by both
    return tuple(out), index


def _pack(index: list[int] | None, values: tuple, size: int) -> tuple:
    res: list[Any] = [None] * size
    for i, v in zip(index or (), values):
        res[i] = v
    return tuple(res)


def _tensors(grads: tuple, backend: Any) -> tuple:
    return tuple(None if g is None else Tensor._make(g, backend, False, None) for g in grads)


def _array(g: Any) -> Any:
    return g.array if isinstance(g, Tensor) else g
