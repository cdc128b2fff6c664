"""Module hooks against PyTorch's: the same models, the same recording hooks, the same event sequence.

Each model is built by both libraries from the same numpy weights; forward pre-hooks, forward hooks,
full backward pre-hooks and full backward hooks on every module append (module name, event, shapes or
gradient values) to a log. The two logs must be equal: which hooks run, in which order, with which
shapes, and the gradients they see. Then hooks that return replacements (args, output, grad_output,
grad_input) must change the results the same way, and misuse must raise in both.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed; the differential tests compare minitorch "
                                            "against it (pip install -e '.[torch]')")

import minitorch as mt  # noqa: E402

torch.set_num_threads(1)
LIBS = {"torch": torch, "minitorch": mt}


def _fill(lib, model, seed=0):
    rng = np.random.default_rng(seed)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(rng.normal(size=tuple(p.shape)).astype("float32")))
    return model


def _models(lib):
    """name -> (model, the number of positional inputs)."""
    nn = lib.nn

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, a, b):
            return self.lin(a) * b + b

    class TwoOutputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            return self.lin(x), x * 2  # the loss below uses both; "unused" tests drop the second

    return {"linear": (nn.Linear(3, 2), 1), "mlp": (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), 1),
            "two_inputs": (TwoInputs(), 2), "two_outputs": (TwoOutputs(), 1)}


def _inputs(lib, n, requires):
    rng = np.random.default_rng(1)
    shapes = [(5, 3), (5, 2)]
    return [lib.tensor(rng.normal(size=shapes[i]).astype("float32"), requires_grad=requires[i]) for i in range(n)]


def _val(g):
    return None if g is None else g.detach().numpy().astype(np.float64).tolist()


def _assert_same(ours, theirs, where="log"):
    """Equal structure, names, events and shapes; float values within float32 rounding."""
    if isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=1e-5, abs=1e-6), where
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), f"{where}: {ours} != {theirs}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _assert_same(a, b, f"{where}[{i}]")
    else:
        assert ours == theirs, where


def _record(model, log):
    for name, mod in model.named_modules():
        mod.register_forward_pre_hook(lambda m, a, n=name: log.append((n, "pre", [tuple(t.shape) for t in a])))
        mod.register_forward_hook(lambda m, a, o, n=name: log.append(
            (n, "forward", [tuple(t.shape) for t in (o if isinstance(o, tuple) else (o,))])))
        mod.register_full_backward_pre_hook(lambda m, go, n=name: log.append((n, "backward_pre", list(map(_val, go)))))
        mod.register_full_backward_hook(lambda m, gi, go, n=name: log.append(
            (n, "backward", list(map(_val, gi)), list(map(_val, go)))))


def _run(lib, kind, requires, use_second=True):
    model, n = _models(lib)[kind]
    _fill(lib, model)
    log: list = []
    _record(model, log)
    xs = _inputs(lib, n, requires)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Full backward hook is firing ... no inputs require gradients"
        out = model(*xs)
        loss = (out[0].sum() + (out[1] ** 2).sum() if use_second else out[0].sum()) if isinstance(out, tuple) \
            else (out ** 2).sum()
        loss.backward()
    leaves = [_val(x.grad) for x in xs] + [_val(p.grad) for p in model.parameters()]
    return log, leaves


CASES = [("linear", (True,)), ("linear", (False,)), ("mlp", (True,)), ("mlp", (False,)),
         ("two_inputs", (True, True)), ("two_inputs", (True, False)), ("two_inputs", (False, True)),
         ("two_outputs", (True,))]


@pytest.mark.parametrize("kind,requires", CASES)
def test_event_sequence_and_gradients_match(kind, requires):
    theirs, ours = _run(torch, kind, requires), _run(mt, kind, requires)
    assert [e[:2] for e in ours[0]] == [e[:2] for e in theirs[0]]  # the same hooks, in the same order
    _assert_same(ours, theirs)


def test_unused_output_has_grad_output_none():
    theirs, ours = _run(torch, "two_outputs", (True,), False), _run(mt, "two_outputs", (True,), False)
    _assert_same(ours, theirs)
    assert [e for e in ours[0] if e[1] == "backward_pre"][0][2][1] is None


def _replacing(lib):
    nn = lib.nn
    model = _fill(lib, nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))
    model[0].register_forward_pre_hook(lambda m, a: a[0] * 2)  # a non-tuple is wrapped
    model[0].register_forward_pre_hook(lambda m, a, k: ((a[0] + 1,), k), with_kwargs=True)
    model[1].register_forward_hook(lambda m, a, o: o * 3)
    model[1].register_forward_hook(lambda m, a, k, o: o - a[0], with_kwargs=True)
    model[2].register_full_backward_pre_hook(lambda m, go: (go[0] * 5,))
    model[0].register_full_backward_hook(lambda m, gi, go: (gi[0] * 0.5,))
    x = _inputs(lib, 1, (True,))[0]
    out = model(x)
    (out ** 2).sum().backward()
    return [_val(out), _val(x.grad)] + [_val(p.grad) for p in model.parameters()]


def test_replacements_match():
    _assert_same(_replacing(mt), _replacing(torch))


def _ordered(lib):
    log: list = []
    lin = _fill(lib, lib.nn.Linear(3, 2))
    lin.register_forward_hook(lambda m, a, o: log.append("a"))
    lin.register_forward_hook(lambda m, a, o: log.append("b"), prepend=True)
    h = lin.register_forward_pre_hook(lambda m, a: log.append("pre"))
    lin.register_forward_pre_hook(lambda m, a: log.append("pre-first"), prepend=True)
    lin.register_full_backward_hook(lambda m, gi, go: log.append("bw-a"))
    lin.register_full_backward_hook(lambda m, gi, go: log.append("bw-b"), prepend=True)
    x = _inputs(lib, 1, (True,))[0]
    lin(x).sum().backward()
    h.remove()
    with lin.register_forward_hook(lambda m, a, o: log.append("ctx")):
        lin(x)
    lin(x)
    return log


def test_prepend_remove_and_context_manager_match():
    assert _ordered(mt) == _ordered(torch)


def _always_call(lib):
    log: list = []

    class Broken(lib.nn.Module):
        def forward(self, x):
            raise ValueError("broken")

    m = Broken()
    m.register_forward_hook(lambda mod, a, o: log.append(("always", o)), always_call=True)
    m.register_forward_hook(lambda mod, a, o: log.append(("plain", o)))
    with pytest.raises(ValueError, match="broken"):
        m(lib.ones(2))
    return log


def test_always_call_runs_on_error():
    assert _always_call(mt) == _always_call(torch) == [("always", None)]


@pytest.mark.parametrize("bad", ["pre_kwargs", "backward_count", "backward_pre_count", "no_input_grad"])
def test_misuse_raises_in_both(bad):
    for lib in LIBS.values():
        lin = _fill(lib, lib.nn.Linear(3, 2))
        x = _inputs(lib, 1, (bad != "no_input_grad",))[0]
        if bad == "pre_kwargs":
            lin.register_forward_pre_hook(lambda m, a, k: a, with_kwargs=True)
        elif bad == "backward_count":
            lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
        elif bad == "backward_pre_count":
            lin.register_full_backward_pre_hook(lambda m, go: (go[0], go[0]))
        else:
            lin.register_full_backward_hook(lambda m, gi, go: (go[0],))
        with pytest.raises(RuntimeError), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lin(x).sum().backward()


def test_warns_when_no_input_requires_grad_as_torch():
    for lib in LIBS.values():
        lin = _fill(lib, lib.nn.Linear(3, 2))
        lin.register_full_backward_hook(lambda m, gi, go: None)
        with pytest.warns(UserWarning, match="no inputs require gradients"):
            lin(_inputs(lib, 1, (False,))[0]).sum().backward()


def _copied(lib):
    import copy
    log: list = []
    lin = _fill(lib, lib.nn.Linear(3, 2))
    handle = lin.register_forward_hook(lambda m, a, o: log.append("hook"))
    twin = copy.deepcopy(lin)
    handle.remove()  # the handle knows the original's dict only
    x = _inputs(lib, 1, (False,))[0]
    lin(x)
    twin(x)
    lin.load_state_dict(lin.state_dict())
    twin.load_state_dict(twin.state_dict())
    twin(x)
    return log, len(twin._forward_hooks), len(lin._forward_hooks)


def test_deepcopy_keeps_hooks_as_torch():
    assert _copied(mt) == _copied(torch) == (["hook", "hook"], 1, 0)
