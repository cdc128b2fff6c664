"""Module: parameters, buffers and submodules registered by attribute assignment, as in PyTorch."""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Mapping
from typing import Any, Callable, Iterator

import numpy as np

from .. import dtypes
from ..autograd import no_grad
from ..backends import canonical_device, get_backend
from ..tensor import Tensor
from ..inplace import cast_, copy_, move_, zero_grads
from ..dtypes import is_dtype_name
from ..utils.hooks import RemovableHandle
from . import hooks as _hooks
from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer: assign Parameters, Modules and buffers as attributes to register them."""

    training: bool
    _has_hooks = False  # set by register_*_hook; the one check Module.__call__ makes for hooks

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist first.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        _hooks.init_hook_dicts(self)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses override it and are called as module(x)."""
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            if self._has_hooks:
                return _hooks.call(self, args, kwargs)
            out = self.forward(*args, **kwargs)
        except Exception as exc:
            from .explain import explain  # noqa: PLC0415  (the error path only)
            explain(self, args, kwargs, exc)  # the outermost call adds the layer walk to exc
            raise
        if isinstance(out, Tensor):  # tag the output's node for graph drawings; none when grad is off
            if out.grad_fn is not None:
                _hooks.record_call(self, args, out)
        elif isinstance(out, (tuple, list)):
            _hooks.record_call(self, args, out)
        return out

    # -- hooks (PyTorch's semantics and order; see hooks.py) ---------------------------------------
    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """hook(module, args) before forward; it may return new args (or, with_kwargs, (args, kwargs))."""
        return _hooks.register(self, "_forward_pre_hooks", hook, prepend, with_kwargs=with_kwargs)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """hook(module, args, output) after forward (also on error if always_call); may return a new output."""
        return _hooks.register(self, "_forward_hooks", hook, prepend, with_kwargs=with_kwargs,
                               always_call=always_call)

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """hook(module, grad_output) when the outputs' gradients are known; may return new grad_output."""
        return _hooks.register(self, "_backward_pre_hooks", hook, prepend)

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """hook(module, grad_input, grad_output) once the positional inputs' gradients are known; may return a
        replacement grad_input. As in PyTorch: None for a non-Tensor argument, zeros for a tensor that needs no
        grad while another does, and all None (called at the outputs) when no input requires grad."""
        return _hooks.register(self, "_backward_hooks", hook, prepend)

    # -- registration ------------------------------------------------------------------------
    def _dicts(self) -> tuple[dict, dict, dict]:
        try:
            return self.__dict__["_parameters"], self.__dict__["_buffers"], self.__dict__["_modules"]
        except KeyError:
            raise AttributeError(f"cannot assign to {type(self).__name__} before Module.__init__() was called; "
                                 "call super().__init__() first in your __init__") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, (Parameter, Module)) or name in self.__dict__.get("_parameters", ()) \
                or name in self.__dict__.get("_buffers", ()) or name in self.__dict__.get("_modules", ()):
            params, buffers, modules = self._dicts()
        if isinstance(value, Parameter):
            if name not in params:  # re-assigning keeps the registration order (and Sequential's)
                self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            if name not in modules:
                self._forget(name)
            modules[name] = value
        elif name in self.__dict__.get("_parameters", ()):
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} of "
                                f"{type(self).__name__} (a nn.Parameter or None is expected)")
            params[name] = None
        elif name in self.__dict__.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} (a Tensor or None "
                                "is expected)")
            buffers[name] = value
        elif name in self.__dict__.get("_modules", ()):
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                "(a nn.Module or None is expected)")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Drop `name` from every registry and the instance dict, before re-registering it."""
        self.__dict__.pop(name, None)
        for d in self._dicts():
            d.pop(name, None)
        self.__dict__["_non_persistent"].discard(name)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: registered names live in the three dicts.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        if any(name in d for d in self._dicts()):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register a Parameter (or None, a placeholder such as a disabled bias) under `name`."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a nn.Parameter or None, got "
                            f"{type(param).__name__}")
        self._forget(name)
        self._dicts()[0][name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register state that is not learned (e.g. running statistics): saved, moved by to(), no grad."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer({name!r}): expected a Tensor or None, got {type(tensor).__name__}")
        self._forget(name)
        self._dicts()[1][name] = tensor
        if not persistent:
            self.__dict__["_non_persistent"].add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under `name` (replacing one keeps its position)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a nn.Module, got {type(module).__name__}")
        if name not in self._dicts()[2]:
            self._forget(name)
        self._dicts()[2][name] = module

    # -- traversal ---------------------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo: set | None = None) -> Iterator[tuple[str, Module]]:
        """(name, module) for self and every descendant, depth first, each module once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[Module]:
        """Self and every descendant module."""
        return (m for _, m in self.named_modules())

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for the direct children."""
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self) -> Iterator[Module]:
        """The direct child modules."""
        return (m for _, m in self.named_children())

    def _named(self, kind: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()  # a tensor shared by two layers (tied weights) is reported once
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, t in module.__dict__[kind].items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter), own parameters first, then each child's in registration order."""
        return self._named("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every Parameter, in named_parameters() order."""
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) in registration order."""
        return self._named("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer, in named_buffers() order."""
        return (b for _, b in self.named_buffers(recurse=recurse))

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call fn on every descendant, then on self (e.g. a custom init); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- modes, gradients, devices -------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch statistics) here and in every descendant."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Set evaluation mode (dropout off, running statistics); same as train(False)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget accumulated gradients: .grad = None, or zeros when set_to_none=False."""
        zero_grads(self.parameters(), set_to_none)

    def to(self, target: Any) -> Module:
        """Move parameters, buffers and their grads to a device (or cast floats to a dtype), in place."""
        tensors = list(self.parameters()) + list(self.buffers())
        if isinstance(target, str) and not is_dtype_name(target):
            backend = get_backend(canonical_device(target))
            for t in tensors:
                move_(t, backend)
        else:
            dtype = dtypes.as_dtype(target)
            if not dtypes.is_floating(dtype):
                raise TypeError(f"Module.to: only floating-point dtypes are supported, got {dtype}")
            for t in tensors:
                cast_(t, dtype)
        return self

    def cpu(self) -> Module:
        """Move to the CPU."""
        return self.to("cpu")

    def cuda(self) -> Module:
        """Move to the (first) CUDA device."""
        return self.to("cuda")

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """name -> Tensor for every parameter and persistent buffer (detached, sharing memory)."""
        out: OrderedDict = OrderedDict()
        for mod_prefix, module in self.named_modules(prefix.rstrip(".")):
            dot = f"{mod_prefix}." if mod_prefix else ""
            for name, t in module._parameters.items():
                if t is not None:
                    out[dot + name] = t if keep_vars else t.detach()
            for name, t in module._buffers.items():
                if t is not None and name not in module._non_persistent:
                    out[dot + name] = t if keep_vars else t.detach()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy tensors into the parameters and buffers in place; everything is checked first, so an error
        changes nothing. strict=False ignores missing and unexpected keys and returns them."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors, sources = [], {}
        for key, t in own.items():
            if key in state_dict:
                source, error = _loadable(key, state_dict[key], t)
                if error:
                    errors.append(error)
                else:
                    sources[key] = source
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected))
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        with no_grad():  # only now, with every value checked and converted, is anything written
            for key, source in sources.items():
                copy_(own[key], source)
        return IncompatibleKeys(missing, unexpected)

    # -- printing ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The constructor arguments shown inside this module's repr; layers override it."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + _indent(repr(m)) for name, m in self._modules.items() if m is not None]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = ([_indent(extra)] if extra else []) + lines
        return f"{type(self).__name__}(\n  " + "\n  ".join(body) + "\n)"

    def __dir__(self) -> list[str]:
        names = list(super().__dir__())
        for d in self._dicts():
            names.extend(d)
        return sorted(set(names))


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


def _loadable(key: str, value: Any, target: Tensor) -> tuple[Any, str | None]:
    """(value ready for copy_ into target, None), or (None, why it cannot be loaded)."""
    if isinstance(value, Tensor):
        shape, dtype, host = value.shape, np.dtype(value.dtype), None
    else:
        try:
            host = np.asarray(value)
        except Exception as exc:  # ragged lists and the like: numpy's ValueError
            return None, f'cannot load "{key}": {type(value).__name__} is not an array ({exc})'
        shape, dtype = host.shape, host.dtype
    if dtype.kind not in "biuf":
        return None, (f'cannot load "{key}": its value is a {dtype} {"array" if host is not None else "tensor"}; '
                      "only bool, integer and floating-point values can be copied into a tensor")
    if tuple(shape) != target.shape:
        return None, (f"size mismatch for {key}: copying a param with shape {tuple(shape)} from checkpoint, "
                      f"the shape in current model is {target.shape}")
    if dtype.kind == "f" and target.dtype.kind in "biu":  # NaN or inf has no integer value
        finite = np.isfinite(host if host is not None else value.backend.to_host(value.array)).all()
        if not finite:
            return None, f'cannot load "{key}": non-finite values cannot be stored in {target.dtype}'
    return (value if host is None else host), None
