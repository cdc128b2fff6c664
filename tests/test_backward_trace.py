"""autograd.trace(): the exact text on a tiny graph, leaf names, several backward calls, bounded output."""
import io

import numpy as np
import pytest

import minitorch as mt
from minitorch import autograd, nn


def _rule(node):
    rule = getattr(node.fn, "rule", "")  # the ops' one-line rules; the line is left out where an op has none
    return [f"   rule: {rule}"] if rule else []


def test_exact_text_of_broadcast_and_shared_input(device):
    x = mt.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]], device=device, requires_grad=True)
    w = mt.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    b = mt.tensor([0.5, 0.5, 0.5], device=device, requires_grad=True)
    loss = ((x * w + b) * x).sum()  # x reaches the loss twice; w and b are broadcast over the rows
    total = loss.grad_fn
    outer = total.parents[0]
    add = outer.parents[0]
    inner = add.parents[0]
    out = io.StringIO()
    with mt.autograd.trace(file=out, names={"x": x, "w": w, "b": b}):
        loss.backward()
    # By hand: d/d(x*w+b) = x; x.grad = (x*w + b) + x*w; b.grad = column sums of x; w.grad = column sums of x*x.
    expected = [
        "backward: 7 nodes (4 ops, 3 leaves), in the order backward visits them",
        "#1 SumBackward  grad ()  mean 1  std 0  min 1  max 1", *_rule(total),
        "   input 0 (2, 3): to #2 MulBackward",
        "#2 MulBackward  grad (2, 3)  mean 1  std 0  min 1  max 1", *_rule(outer),
        "   input 0 (2, 3): to #3 AddBackward",
        "   input 1 (2, 3): added to x.grad",
        "#3 AddBackward  grad (2, 3)  mean 1  std 1.291  min -1  max 3", *_rule(add),
        "   input 0 (2, 3): to #4 MulBackward",
        "   input 1 (3,): summed over axis 0 ((2, 3) -> (3,)), added to b.grad",
        "#4 MulBackward  grad (2, 3)  mean 1  std 1.291  min -1  max 3", *_rule(inner),
        "   input 0 (2, 3): added to x.grad (second path: sum of paths)",
        "   input 1 (3,): summed over axis 0 ((2, 3) -> (3,)), added to w.grad",
        "x.grad += grad (2, 3)  mean 5.833  std 6.6  min -1.5  max 18.5  (sum of 2 paths)",
        "b.grad += grad (3,)  mean 2  std 1.633  min 0  max 4",
        "w.grad += grad (3,)  mean 5.333  std 3.399  min 2  max 10",
    ]
    assert out.getvalue().splitlines() == expected
    np.testing.assert_allclose(x.grad.numpy(), [[2.5, 8.5, 18.5], [-1.5, 0.5, 6.5]])
    assert autograd.backward_observers == []


def test_node_reached_twice_and_unnamed_leaves(capsys):
    a = mt.tensor([1.0, 2.0], requires_grad=True)
    c = mt.tensor([3.0, 4.0], requires_grad=True)
    h = a * c
    with mt.autograd.trace():  # prints to sys.stdout
        (h.exp() + h).sum().backward()
    text = capsys.readouterr().out
    assert "to #4 MulBackward (second path: sum of paths)" in text
    assert "#4 MulBackward  grad (2,)  mean" in text and text.count("(sum of 2 paths)") == 1
    assert "added to leaf#1.grad" in text and "added to leaf#2.grad" in text
    assert "   input 1 (): no gradient" not in text  # a plain number has no line


def test_names_from_a_module_and_inputs_without_grad():
    layer = nn.Linear(3, 2)
    x = mt.randn(4, 3)
    out = io.StringIO()
    with mt.autograd.trace(file=out, names=layer):
        layer(x).sum().backward()
    text = out.getvalue()
    assert "added to weight.grad" in text and "added to bias.grad" in text
    assert "input 0 (4, 3): no gradient (does not require grad)" in text
    assert "weight.grad += grad (2, 3)" in text


def test_each_backward_call_starts_over():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    out = io.StringIO()
    with mt.autograd.trace(file=out, names={"x": x}):
        loss.backward(retain_graph=True)
        loss.backward()
    lines = out.getvalue().splitlines()
    assert [line for line in lines if line.startswith(("backward:", "#"))] == [
        "backward: 3 nodes (2 ops, 1 leaf), in the order backward visits them",
        "#1 SumBackward  grad ()  mean 1  std 0  min 1  max 1",
        "#2 MulBackward  grad (2,)  mean 1  std 0  min 1  max 1"] * 2
    assert lines.count("   input 1 (2,): added to x.grad (second path: sum of paths)") == 2


def test_output_is_bounded_on_a_big_graph_and_backward_still_runs():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x
    for _ in range(200):
        y = y * 1.01
    out = io.StringIO()
    with mt.autograd.trace(file=out, max_nodes=10):
        y.sum().backward(retain_graph=True)
    lines = out.getvalue().splitlines()
    assert lines[0] == "backward: 202 nodes (201 ops, 1 leaf), in the order backward visits them"
    assert sum(line.startswith("#") for line in lines) == 10
    assert lines[-1] == "... 192 more nodes" and len(lines) < 40
    np.testing.assert_allclose(x.grad.numpy(), [1.01 ** 200] * 2, rtol=1e-5)
    out = io.StringIO()
    with mt.autograd.trace(file=out):  # the default: 50
        (y * 1).sum().backward()
    assert out.getvalue().splitlines()[-1] == "... 153 more nodes"


def test_removed_on_exception_and_backward_of_a_leaf():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ZeroDivisionError):
        with mt.autograd.trace(file=io.StringIO()):
            1 / 0
    assert autograd.backward_observers == []
    out = io.StringIO()
    with mt.autograd.trace(file=out, names={"x": x}):
        x.backward(mt.tensor([3.0, 5.0]))
    assert out.getvalue().splitlines() == [
        "backward: 1 node (0 ops, 1 leaf), in the order backward visits them",
        "x.grad += grad (2,)  mean 4  std 1  min 3  max 5"]
