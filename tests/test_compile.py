"""minitorch.compile: a recorded step replays bit-identically to eager, and what it cannot replay is refused
with the user's line (or, with fallback=True, run eagerly with a warning)."""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim
from minitorch.capture import CaptureError, CaptureWarning
from minitorch.capture.flat_tape import FlatTape
from minitorch.ops.nll import replayed_labels_ok
from minitorch.training import training_step, workshop_mlp

THIS = __file__.rsplit("/", 1)[-1]


def batches(n: int, size: int = 64, seed: int = 0) -> list[tuple[mt.Tensor, mt.Tensor]]:
    rng = np.random.default_rng(seed)
    return [(mt.tensor(rng.standard_normal((size, 784), dtype=np.float32)), mt.tensor(rng.integers(0, 10, size)))
            for _ in range(n)]


def train(compiled: bool, data: list, make_opt=lambda p: optim.Adam(p, lr=1e-3), schedule: bool = True):
    """train.py's network and step for len(data) steps; returns (losses, model state, optimizer state, step)."""
    mt.manual_seed(0)
    model = workshop_mlp()
    opt = make_opt(model.parameters())
    scheduler = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=len(data)) if schedule else None
    step = training_step(model, opt, nn.CrossEntropyLoss())  # what train.py runs
    run = mt.compile(step) if compiled else step
    losses = []
    for x, y in data:
        loss, _ = run(x, y)
        losses.append(loss.item())
        if scheduler is not None:
            scheduler.step()  # lr changes between steps: a replay must read it, not bake it in
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    opt_state = {(i, k): (v.numpy().copy() if isinstance(v, mt.Tensor) else v)
                 for i, s in opt.state_dict()["state"].items() for k, v in s.items()}
    return losses, state, opt_state, run


def assert_identical(a, b):
    assert a[0] == b[0]  # every loss, bit for bit
    for name in a[1]:
        assert a[1][name].tobytes() == b[1][name].tobytes(), name
    assert a[2].keys() == b[2].keys()
    for key, value in a[2].items():
        other = b[2][key]
        assert (value.tobytes() == other.tobytes()) if isinstance(value, np.ndarray) else value == other, key


@pytest.mark.parametrize("make_opt", [
    lambda p: optim.Adam(p, lr=1e-3),
    lambda p: optim.Adam(p, lr=1e-3, flat=True),
    lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4, flat=True),
], ids=["adam", "adam-flat", "sgd-flat"])
def test_100_steps_bit_identical_to_eager(make_opt):
    data = batches(100)
    eager = train(False, data, make_opt)
    captured = train(True, data, make_opt)
    assert_identical(eager, captured)
    tape, = captured[3].tapes.values()
    assert tape.checked and tape.replays == 99  # recorded once, its first replay checked against eager
    assert isinstance(tape.fast, FlatTape) and tape.fast.checked  # then traced flat, checked again, replayed
    assert [c.fn.func for c in tape.prechecks] == [replayed_labels_ok]  # the labels, checked ahead of each replay


def test_100_steps_through_the_emulated_kernels(monkeypatch):
    from minitorch.backends.numpy_backend import NumpyBackend
    from minitorch.kernels import emulated_kernels, emulator
    if not emulator.available():
        pytest.skip("the CUDA emulator needs g++")
    monkeypatch.setenv("MINITORCH_FUSED", "1")
    monkeypatch.setattr(NumpyBackend, "kernels", property(lambda self: emulated_kernels()))
    data = batches(100, size=16)
    make_opt = lambda p: optim.Adam(p, lr=1e-3, weight_decay=1e-4, flat=True)  # noqa: E731
    captured = train(True, data, make_opt)
    assert_identical(train(False, data, make_opt), captured)
    tape, = captured[3].tapes.values()
    assert "fused kernels" in tape.fast  # the emulator's launches are opaque to the tracer: op by op


def test_new_shapes_record_again_and_stay_identical():
    data = batches(3) + batches(3, size=32, seed=1) + batches(2, seed=2)
    eager, captured = train(False, data), train(True, data)
    assert_identical(eager, captured)
    assert len(captured[3].tapes) == 2


def test_eval_mode_between_steps_records_again():
    mt.manual_seed(0)
    model = workshop_mlp()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    step = mt.compile(training_step(model, opt, nn.functional.cross_entropy))
    (x, y), = batches(1)
    step(x, y)
    step(x, y)
    model.eval()  # BatchNorm and Dropout behave differently: the train-mode tape must not replay
    step(x, y)
    assert len(step.tapes) == 1 and "eval mode" in step.last_guard
    assert model[1].num_batches_tracked.item() == 2  # recorded anew, in eval mode: no running-stat update


def test_new_parameters_record_again():
    w = nn.Parameter(mt.ones(3))
    opt = optim.SGD([w], lr=0.1)

    @mt.compile
    def step(x):
        opt.zero_grad()
        (w * x).sum().backward()
        opt.step()

    x = mt.ones(3)
    step(x)
    step(x)
    v = nn.Parameter(mt.ones(3))
    opt.add_param_group({"params": [v]})
    step(x)
    assert "parameters changed" in step.last_guard
    np.testing.assert_allclose(w.detach().numpy(), [0.7, 0.7, 0.7], rtol=1e-6)


def test_returns_fresh_detached_tensors_each_replay():
    w = nn.Parameter(mt.tensor([1.0, 2.0]))
    opt = optim.SGD([w], lr=0.5)

    @mt.compile
    def step(x):
        opt.zero_grad()
        y = (w * x).sum()
        y.backward()
        opt.step()
        return {"y": y, "both": (y, w)}

    x = mt.tensor([1.0, 1.0])
    values = [step(x)["y"].item() for _ in range(4)]
    assert values == [3.0, 2.0, 1.0, 0.0]  # w loses 0.5 per step
    out = step(x)
    assert out["both"][1] is w and not out["y"].requires_grad


def double_in_place_and_sum(x):
    with mt.no_grad():
        x.mul_(2)
    return x.sum()


def test_an_in_place_write_into_an_input_is_replayed():
    step = double_in_place_and_sum
    compiled = mt.compile(step)
    for _ in range(3):
        a, b = mt.tensor([1.0, 2.0]), mt.tensor([1.0, 2.0])
        assert step(a).item() == compiled(b).item()
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("body, what", [
    ("loss.item()", ".item()"),
    ("float(loss)", "float(tensor)"),
    ("bool(loss > 0)", "Python branch"),
    ("loss.tolist()", ".tolist()"),
])
def test_host_reads_are_refused_with_the_line(body, what):
    import re
    w = nn.Parameter(mt.ones(3))
    opt = optim.SGD([w], lr=0.1)
    namespace = {"w": w, "opt": opt}
    exec(compile(f"def step(x):\n    loss = (w * x).sum()\n    {body}\n    loss.backward()\n    opt.step()\n"
                 "    return loss\n", "step_module.py", "exec"), namespace)
    compiled = mt.compile(namespace["step"])
    with pytest.raises(CaptureError, match=re.escape(what)) as info:
        compiled(mt.ones(3))
    assert "step_module.py:3" in str(info.value)
    np.testing.assert_allclose(w.detach().numpy(), [0.9] * 3)  # the eager call completed before the error


def test_a_tensor_made_inside_the_step_is_refused():
    w = nn.Parameter(mt.ones(3))

    @mt.compile
    def step(x):
        noise = mt.randn(3)  # a replay would reuse the first draw
        (w * (x + noise)).sum().backward()

    with pytest.raises(CaptureError, match=f"(?s){THIS}:.*made inside the step"):
        step(mt.ones(3))


def test_hooks_closures_schedulers_and_gradients_are_refused():
    w = nn.Parameter(mt.ones(3))
    opt = optim.SGD([w], lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, 1)
    g = mt.ones(3) * 2

    def hook(x):
        y = w * x
        y.register_hook(lambda grad: grad * 2)
        y.sum().backward()

    cases = {
        hook: "tensor hook",
        lambda x: opt.step(lambda: (w * x).sum()): "closure",
        lambda x: sched.step(): "lr_scheduler",
        lambda x: (w * x).backward(g): "gradient other than ones",
    }
    for body, what in cases.items():
        with pytest.raises(CaptureError, match=what):
            mt.compile(body)(mt.ones(3))


def test_module_hooks_are_refused():
    model = nn.Linear(3, 2)
    model.register_forward_hook(lambda m, a, out: None)

    @mt.compile
    def step(x):
        model(x).sum().backward()

    with pytest.raises(CaptureError, match="hooks"):
        step(mt.ones(1, 3))


def test_fallback_warns_and_runs_eagerly():
    w = nn.Parameter(mt.ones(3))
    opt = optim.SGD([w], lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (w * x).sum()
        if loss > 0:  # a branch on a value: fine eagerly, not replayable
            loss.backward()
            opt.step()
        return loss

    compiled = mt.compile(step, fallback=True)
    with pytest.warns(CaptureWarning, match="Python branch"):
        compiled(mt.ones(3))
    compiled(-mt.ones(3) * 100)  # eager from now on: the branch is taken afresh
    np.testing.assert_allclose(w.detach().numpy(), [0.9] * 3)


def test_a_side_effect_the_recorder_cannot_see_is_caught_by_the_first_replay():
    w = nn.Parameter(mt.ones(3))
    opt = optim.SGD([w], lr=0.1)

    @mt.compile
    def step(x):
        w.grad = None  # plain Python: not replayed, so gradients would pile up
        (w * x).sum().backward()
        opt.step()

    step(mt.ones(3))
    with pytest.raises(CaptureError, match="Parameter|parameter 0"):
        step(mt.ones(3))
    np.testing.assert_allclose(w.detach().numpy(), [0.8] * 3)  # the eager run's state is kept


class Positive(mt.autograd.Function):
    """A user's op whose output shape depends on the data."""

    @staticmethod
    def forward(ctx, x):
        ctx.keep = x > 0
        return x[ctx.keep]

    @staticmethod
    def backward(ctx, grad):  # each kept element's gradient back in its place (the tests need no grad)
        dx = ctx.xp.zeros(ctx.keep.shape, dtype=grad.dtype)
        dx[ctx.keep] = grad
        return dx


def test_data_dependent_shapes_are_refused():
    with pytest.raises(CaptureError, match="GetItem gets an array from outside"):  # a mask made into indices
        mt.compile(lambda x: x[x > 0].sum())(mt.tensor([1.0, -1.0, 2.0]))
    for trace, message in ((False, r"Positive gave shape \(3,\) at replay but \(2,\) when recorded"),
                           (True, r"getitem gave shape \(1,\) at replay but \(2,\) when traced")):
        step = mt.compile(lambda x: Positive.apply(x).sum(), check=False, trace=trace)
        step(mt.tensor([1.0, -1.0, 2.0]))  # recorded
        step(mt.tensor([3.0, -1.0, 2.0]))  # traced into a flat tape (trace=True), or replayed
        assert step(mt.tensor([4.0, -1.0, 2.0])).item() == 6.0
        with pytest.raises(CaptureError, match=message):  # (1,) would broadcast into (2,): never silently
            step(mt.tensor([1.0, -3.0, -2.0]) if trace else mt.tensor([1.0, 3.0, 2.0]))


def test_grad_mode_is_part_of_the_signature():
    w = nn.Parameter(mt.ones(3))

    @mt.compile
    def f(x):
        return (w * x).sum()

    x = mt.ones(3)
    f(x)
    with mt.no_grad():
        f(x)
    assert len(f.tapes) == 2


def test_backward_observers_and_anomaly_mode_run_eagerly():
    w = nn.Parameter(mt.ones(3))
    calls = []

    @mt.compile
    def f(x):
        (w * x).sum().backward()

    with mt.autograd.add_backward_observer(lambda node, g, grads: calls.append(node.name)):
        f(mt.ones(3))
    assert calls == ["SumBackward", "MulBackward"] and not f.tapes


def test_flat_adam_step_replays_bit_identically_on_each_fast_backend(fast_device):
    data = [(x.to(fast_device), y.to(fast_device)) for x, y in batches(20)]

    def run(compiled):
        mt.manual_seed(0)
        model = workshop_mlp().to(fast_device)
        opt = optim.Adam(model.parameters(), lr=1e-3, flat=True)
        step = training_step(model, opt, nn.functional.cross_entropy)
        f = mt.compile(step) if compiled else step
        return [f(x, y)[0].item() for x, y in data], [p.detach().numpy() for p in model.parameters()]

    eager, captured = run(False), run(True)
    assert eager[0] == captured[0]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(eager[1], captured[1]))


def test_gradient_clipping_inside_the_step_is_replayed():
    data = batches(6)

    def run(compiled):
        mt.manual_seed(0)
        model = workshop_mlp()
        opt = optim.SGD(model.parameters(), lr=0.1, flat=True)

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            norm = nn.utils.clip_grad_norm_(model.parameters(), 2.0)  # a generator: every replay clips all
            opt.step()
            return loss, norm
        f = mt.compile(step) if compiled else step
        out = [tuple(t.item() for t in f(x, y)) for x, y in data]
        return out, [p.detach().numpy().copy() for p in model.parameters()]

    eager, captured = run(False), run(True)
    assert eager[0] == captured[0] and any(norm > 2.0 for _, norm in eager[0])  # some steps clip
    assert all(a.tobytes() == b.tobytes() for a, b in zip(eager[1], captured[1]))


def test_cuda_graph_plan_of_the_workshop_step():
    from minitorch.capture.cuda_graph import GraphedTape, Unsupported, plan
    from minitorch.capture.tape import Backward, Call
    *_, step = train(True, batches(2))
    tape, = step.tapes.values()
    before, graphed, after = plan(tape)
    zero_grad, = before  # .grad only: it runs ahead of the launch (and the label check, a precheck, before it)
    check, = tape.prechecks
    assert check.specs == [("s", 1)] and zero_grad.fn.__name__ == "zero_grad"
    assert isinstance(graphed[-1], Backward) and [c.fn.__name__ for c in after] == ["step"]
    assert [c.fn.__name__ for c in graphed if isinstance(c, Call)] == ["_count_batch"]  # a device-side counter
    assert tape.uses_rng  # dropout: no graph until the generator's position lives on the device
    with pytest.raises(Unsupported, match="CuPy"):
        GraphedTape(tape, [])
    assert tape.graph is None  # on the CPU no graph is tried at all


class SignFlip(mt.autograd.Function):
    """A user's op that branches on its input's values inside forward (fine eagerly and op by op)."""

    @staticmethod
    def forward(ctx, x):
        return -x if x.sum() < 0 else x * 1.0

    @staticmethod
    def backward(ctx, grad):
        return grad


def test_the_flat_tape_gives_up_where_an_op_branches_on_values():
    step = mt.compile(lambda x: SignFlip.apply(x) * 2.0)
    for values in ([1.0, 2.0], [3.0, 4.0], [-1.0, -2.0], [5.0, -9.0], [6.0, 7.0]):
        expected = [-2.0 * v if sum(values) < 0 else 2.0 * v for v in values]
        assert step(mt.tensor(values)).tolist() == expected
    tape, = step.tapes.values()
    assert "Python branch" in tape.fast  # traced once, gave up, replays op by op (which reruns the branch)


def test_the_flat_tape_writes_gradients_into_the_flat_buffer_and_reuses_memory():
    from minitorch.capture.memory import owner
    *_, step = train(True, batches(5), make_opt=lambda p: optim.Adam(p, lr=1e-3, flat=True))
    tape, = step.tapes.values()
    fast = tape.fast
    assert isinstance(fast, FlatTape) and fast.checked and not fast.leaves  # every leaf redirected
    params = list(tape.guards.optimizers[0][0].param_groups[0]["params"])
    buf = tape.guards.optimizers[0][0]._homes[id(params[0])][0]
    assert all(p.grad.array.base is buf.grad_flat for p in params)  # .grad adopted its flat view: no copy
    owners = {id(owner(a)) for _, args, kwargs in fast.calls for a in _arrays((args, kwargs))}
    temps = [a for _, args, kwargs in fast.calls for a in _arrays((args, kwargs)) if a.shape == (64, 256)]
    assert len({id(owner(a)) for a in temps}) < 8 < len(temps)  # (64, 256) temporaries share a few blocks
    assert len(owners) < len(fast.calls)
    from minitorch.capture.trace import _into
    assert not any(fn is _into for fn, _, _ in fast.calls)  # dropout, casts and the label gather: no copy after
    assert any(type(fn) is np.ufunc and not kwargs for fn, _, kwargs in fast.calls)  # out= given positionally


def _arrays(value):
    from minitorch.capture.memory import arrays
    return arrays(value)


def test_an_in_place_write_keeps_the_step_op_by_op():
    compiled = mt.compile(double_in_place_and_sum)
    for _ in range(4):
        compiled(mt.tensor([1.0, 2.0]))
    tape, = compiled.tapes.values()
    assert "in-place write" in tape.fast


def test_inputs_bound_or_copied_as_their_layout_allows():
    w = nn.Parameter(mt.tensor(np.arange(12, dtype=np.float32).reshape(4, 3) / 10))
    opt = optim.SGD([w], lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (x @ w).relu().sum()
        loss.backward()
        opt.step()
        return loss, x

    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((5, 4)).astype(np.float32) for _ in range(6)]
    layouts = [a if i % 2 else np.asfortranarray(a) for i, a in enumerate(arrays)]  # F-order: copied in
    compiled = mt.compile(step)
    got = [(loss.item(), x.numpy().copy()) for loss, x in (compiled(mt.from_numpy(a)) for a in layouts)]
    w.data = mt.tensor(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
    opt.state.clear()
    expected = [(loss.item(), x.numpy().copy()) for loss, x in (step(mt.from_numpy(a)) for a in layouts)]
    assert [g[0] for g in got] == [e[0] for e in expected]
    assert all(np.array_equal(g[1], a) for g, a in zip(got, arrays))  # an input returned is the caller's
    assert isinstance(next(iter(compiled.tapes.values())).fast, FlatTape)


def test_every_backend_replays_bit_identically(device):
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, 8)) for _ in range(6)]

    def run(compiled):
        mt.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Dropout(0.3), nn.Linear(5, 3))
        model = model.to(device)
        opt = optim.AdamW(model.parameters(), lr=1e-2, flat=True)

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        f = mt.compile(step) if compiled else step
        losses = [f(mt.tensor(x, device=device), mt.tensor(y, device=device)).item() for x, y in data]
        return losses, [p.detach().numpy().copy() for p in model.parameters()]

    eager, captured = run(False), run(True)
    assert eager[0] == captured[0]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(eager[1], captured[1]))


# -- labels: the loss wrappers check them on the host, and a replay reruns that check ---------------------------

LOSSES = {
    "cross_entropy": nn.functional.cross_entropy,
    "nll_loss": lambda z, y: nn.functional.nll_loss(nn.functional.log_softmax(z, dim=1), y),
}


def clean_labels(n: int = 7, rows: int = 16, classes: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, classes, rows) for _ in range(n)]


def label_run(loss: str, labels: list, compiled: bool, trace: bool = True, device: str = "cpu"):
    """A linear classifier's step (zero_grad, loss, backward) per batch of labels. Returns, per batch, the
    (loss, gradient) bytes or the IndexError's message; the step; the weight and the inputs."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((4, 5)).astype(np.float32)
    xs = [rng.standard_normal((len(y), 4)).astype(np.float32) for y in labels]
    w = nn.Parameter(mt.tensor(weight, device=device))
    opt = optim.SGD([w], lr=0.1)

    def step(x, y):
        opt.zero_grad()
        out = LOSSES[loss](x @ w, y)
        out.backward()
        return out

    run = mt.compile(step, trace=trace) if compiled else step
    results = []
    for x, y in zip(xs, labels):
        try:
            out = run(mt.tensor(x, device=device), mt.tensor(y, device=device))
            w.backend.raise_pending_errors()  # where the check leaves a flag on the device (CUDA)
            results.append((out.detach().numpy().tobytes(), w.grad.numpy().tobytes()))
        except IndexError as exc:
            results.append(str(exc))
    return results, run, weight, xs


def torch_loss_and_grad(loss: str, weight: np.ndarray, x: np.ndarray, y: np.ndarray):
    torch = pytest.importorskip("torch")
    w = torch.tensor(weight, requires_grad=True)
    z = torch.tensor(x) @ w
    target = torch.tensor(y)
    if loss == "cross_entropy":
        out = torch.nn.functional.cross_entropy(z, target, ignore_index=-100)
    else:
        out = torch.nn.functional.nll_loss(torch.nn.functional.log_softmax(z, dim=1), target, ignore_index=-100)
    out.backward()
    return out.item(), w.grad.numpy()


def assert_replayed(step, trace: bool) -> None:
    """The step was recorded once and replayed by the tape, or (trace) by its flat tape; the label check of
    the step's input runs ahead of each replay."""
    tape, = step.tapes.values()
    assert tape.checked and tape.replays >= 3
    assert [c.fn.func for c in tape.prechecks] == [replayed_labels_ok]
    if trace:
        assert isinstance(tape.fast, FlatTape) and tape.fast.checked
    else:
        assert tape.fast is None


@pytest.mark.parametrize("trace", [False, True], ids=["tape", "flat"])
@pytest.mark.parametrize("loss", LOSSES)
def test_a_bad_label_in_a_replayed_batch_raises_as_eagerly(loss, trace):
    labels = clean_labels()  # recorded on clean labels (batch 0)
    labels[2][3] = -1  # a replay, or the tracing run (flat)
    labels[5][7] = 5  # == C: a tape replay, or a flat replay
    eager = label_run(loss, labels, False)[0]
    captured, step, *_ = label_run(loss, labels, True, trace)
    assert captured == eager
    assert "arget -1 is out of bounds for 5 classes" in captured[2]  # "target" (cross_entropy), "Target" (nll)
    assert "arget 5 is out of bounds for 5 classes" in captured[5]
    assert all(isinstance(r, tuple) for k, r in enumerate(captured) if k not in (2, 5))
    assert_replayed(step, trace)


@pytest.mark.parametrize("trace", [False, True], ids=["tape", "flat"])
@pytest.mark.parametrize("loss", LOSSES)
def test_ignored_rows_in_a_replayed_batch_are_masked(loss, trace):
    labels = clean_labels(10)  # recorded without ignored rows: the kernels are told none are ignored
    labels[4][::3] = -100  # breaks that promise: checked ahead of the replay, the step is recorded anew
    labels[8][1::2] = -100  # a replay of the new recording, which masks
    eager = label_run(loss, labels, False)[0]
    captured, step, weight, xs = label_run(loss, labels, True, trace)
    assert captured == eager
    assert step.recordings == 2
    for k in (4, 8):
        expected_loss, expected_grad = torch_loss_and_grad(loss, weight, xs[k], labels[k])
        np.testing.assert_allclose(np.frombuffer(captured[k][0], np.float32), expected_loss, rtol=1e-6)
        np.testing.assert_allclose(np.frombuffer(captured[k][1], np.float32).reshape(4, 5), expected_grad,
                                   rtol=1e-5, atol=1e-7)
    assert_replayed(step, trace)


def test_a_clean_recording_keeps_the_unmasked_kernels_until_a_batch_ignores_rows():
    labels = clean_labels(4)
    labels[3][0] = -100
    _, step, *_ = label_run("cross_entropy", labels[:3], True)
    ignore_arg = lambda tape: next(e.specs[2] for e in tape.entries  # noqa: E731  (CrossEntropy's ignore_index)
                                   if getattr(e, "fn", None).__name__ == "CrossEntropy")
    tape, = step.tapes.values()
    assert ignore_arg(tape) == ("c", None) and tape.replays == 2  # no masking work in the replays
    _, step, *_ = label_run("cross_entropy", labels, True)
    tape, = step.tapes.values()
    assert step.recordings == 2 and ignore_arg(tape) == ("c", -100)


def test_labels_through_the_emulated_kernels(monkeypatch):
    from minitorch.backends.numpy_backend import NumpyBackend
    from minitorch.kernels import emulated_kernels, emulator
    if not emulator.available():
        pytest.skip("the CUDA emulator needs g++")
    monkeypatch.setenv("MINITORCH_FUSED", "1")
    monkeypatch.setattr(NumpyBackend, "kernels", property(lambda self: emulated_kernels()))
    labels = clean_labels(9)
    labels[3][7], labels[5][::3] = 5, -100  # a bad label; ignored rows (recorded anew there)
    eager = label_run("cross_entropy", labels, False)[0]
    captured, step, *_ = label_run("cross_entropy", labels, True)
    assert captured == eager and "target 5 is out of bounds" in captured[3]
    tape, = step.tapes.values()
    assert tape.replays >= 3 and "fused kernels" in tape.fast  # op by op: the kernels are opaque to the tracer


@pytest.mark.parametrize("loss", LOSSES)
def test_labels_on_a_device_that_defers_the_check(monkeypatch, loss):
    import fake_device
    labels = clean_labels()
    labels[3][7], labels[5][::3] = 5, -100
    with fake_device.installed(monkeypatch, launchers=False):
        eager = label_run(loss, labels, False, device="cuda:7")[0]
        captured, step, *_ = label_run(loss, labels, True, device="cuda:7")
    assert captured == eager and "arget 5 is out of bounds" in captured[3]  # raised where the flag is read
    tape, = step.tapes.values()
    assert tape.replays >= 3


def test_a_cuda_graph_checks_the_input_labels_ahead_of_its_launch_only():
    from minitorch.capture.cuda_graph import Unsupported, plan
    from minitorch.capture.tape import Check
    w = nn.Parameter(mt.ones(4, 5))

    def step(x, y):
        nn.functional.nll_loss(nn.functional.log_softmax(x @ w, dim=1), y).backward()

    for dtype, planned in ((np.int64, True), (np.uint8, False)):  # uint8 labels are cast to int64 in the step
        compiled = mt.compile(step)
        compiled(mt.ones(3, 4), mt.tensor(np.array([0, 1, 2], dtype)))
        tape, = compiled.tapes.values()
        if planned:
            before, graphed, _ = plan(tape)
            assert len(tape.prechecks) == 1 and not any(isinstance(e, Check) for e in before + graphed)
        else:
            with pytest.raises(Unsupported, match="checks a value the step computes"):
                plan(tape)


def test_a_bad_embedding_index_in_a_replayed_batch_raises_as_eagerly():
    mt.manual_seed(0)
    emb = nn.Embedding(10, 3)

    @mt.compile
    def step(idx):
        emb(idx).sum().backward()

    for idx in ([1, 2], [3, 4], [5, 6], [7, 8]):
        step(mt.tensor(idx))
    for bad in (-1, 10):  # -1 would read the last row and 10 fail inside NumPy, without the recorded check
        with pytest.raises(IndexError, match=f"embedding: index {bad} is out of range for num_embeddings=10"):
            step(mt.tensor([0, bad]))
    tape, = step.tapes.values()
    assert tape.replays >= 3


@pytest.mark.parametrize("op", ["gather", "index_select"])
def test_a_bad_gather_or_index_select_index_in_a_replayed_batch_raises_as_eagerly(op):
    w = mt.randn(4, 5, requires_grad=True)

    @mt.compile
    def step(idx):
        picked = w.gather(1, idx[None, :].expand(4, -1)) if op == "gather" else w.index_select(1, idx)
        picked.sum().backward()

    for idx in ([1, 2], [3, 4], [0, 1], [2, 3]):
        step(mt.tensor(idx))
    for bad in (-1, 5):  # -1 would wrap around to the last column without the recorded check
        with pytest.raises(RuntimeError, match=f"{op}\\(\\): index {bad} is out of bounds for dimension 1 with size 5"):
            step(mt.tensor([0, bad]))
    tape, = step.tapes.values()
    assert tape.replays >= 3
