"""minitorch.viz.graph: the recorded graph as plain data and DOT, backward rules, module boxes, gradients."""
from __future__ import annotations

import importlib
import pkgutil
import shutil
import subprocess
import sys

import numpy as np
import pytest

import minitorch as mt
import minitorch.nn.functional as F
from minitorch import autograd, nn
from minitorch.autograd import Function, unbroadcast
from minitorch.training.loop import workshop_mlp
from minitorch.training.models import mnist_cnn

pytest.importorskip("graphviz", reason='the graph drawings need the graphviz package: pip install "minitorch[viz]"')
from minitorch.viz import graph  # noqa: E402
from minitorch.viz.capture import summed_axes  # noqa: E402

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed "
                               "(apt-get install graphviz / brew install graphviz / conda install graphviz)")


@pytest.fixture(autouse=True)
def _fused(monkeypatch):
    """The fused BatchNorm and cross-entropy ops, whatever MINITORCH_FUSED the run was given."""
    monkeypatch.setenv("MINITORCH_FUSED", "1")


def _subclasses(cls: type) -> list[type]:
    return [s for sub in cls.__subclasses__() for s in (sub, *_subclasses(sub))]


def _ops(g) -> list[dict]:
    return [n for n in g.nodes if n["kind"] == "op"]


def _by_name(g) -> dict[str, dict]:
    return {n["name"]: n for n in g.nodes if n["kind"] == "leaf"}


def _mlp_loss(batch: int = 64):
    model = workshop_mlp()
    x, y = mt.randn(batch, 784), mt.randint(0, 10, (batch,))
    logits = model(x)
    return model, logits, F.cross_entropy(logits, y)


def test_every_op_states_its_backward_rule():
    for info in pkgutil.walk_packages(mt.__path__, "minitorch."):  # Functions outside `import minitorch` too
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional dependency's module
            continue
    ops = [c for c in _subclasses(Function) if c.__module__.startswith("minitorch.")]
    assert len(ops) >= 80
    for op in ops:
        rule = op.__dict__.get("rule")  # its own: Min must not inherit Max's
        assert isinstance(rule, str) and rule.strip() and "\n" not in rule, op.__name__


def test_mlp_ops_shapes_rules_and_leaf_names():
    model, _, loss = _mlp_loss()
    g = graph(loss)
    ops = _ops(g)
    assert [n["name"] for n in ops] == ["Linear", "BatchNormTrain", "ReLU", "Dropout", "Linear", "CrossEntropy"]
    first, last = ops[0], ops[-1]
    assert first["inputs"] == [(64, 784), (256, 784), (256,)] and first["output"] == (64, 256)
    assert first["dtype"] == "float32" and first["rule"] == "dx = grad @ W;  dW = grad.T @ x;  db = sum over batch"
    assert ops[2]["rule"] == "dx = grad * (x > 0)"
    assert last["loss"] and last["output"] == () and last["rule"] == "dlogits = grad * (softmax - onehot) / N"
    assert [n["output"] for n in ops[:-1]] == [(64, 256)] * 4 + [(64, 10)]
    leaves = _by_name(g)
    assert set(leaves) == {"x", "0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"}
    assert not leaves["x"]["named"] and not leaves["x"]["requires_grad"] and leaves["x"]["shape"] == (64, 784)
    assert leaves["4.weight"]["named"] and leaves["4.weight"]["requires_grad"] and leaves["4.weight"]["shape"] == \
        (10, 256)
    ids = {n["id"]: n for n in g.nodes}
    into_first = sorted(ids[e["src"]]["name"] for e in g.edges if e["dst"] == first["id"])
    assert into_first == ["0.bias", "0.weight", "x"]
    assert all(e["label"] is None for e in g.edges)  # Linear sums its own bias gradient: no broadcast there
    assert "dW = grad.T @ x" in g.source and "0.weight" in g.source and "no grad" in g.source


def test_cnn_ops_and_shapes():
    model = mnist_cnn()
    loss = F.cross_entropy(model(mt.randn(8, 1, 28, 28)), mt.randint(0, 10, (8,)))
    g = graph(loss, group_by="module")
    ops = _ops(g)
    block = ["Conv2d", "BatchNormTrain", "ReLU", "MaxPool2d"]
    assert [n["name"] for n in ops] == block * 2 + ["Reshape", "Dropout", "Linear", "BatchNormTrain", "ReLU",
                                                   "Dropout", "Linear", "CrossEntropy"]
    assert ops[0]["inputs"] == [(8, 1, 28, 28), (16, 1, 5, 5)] and ops[0]["output"] == (8, 16, 28, 28)
    assert ops[3]["output"] == (8, 16, 14, 14) and ops[7]["output"] == (8, 32, 7, 7)
    assert ops[8]["output"] == (8, 1568) and ops[8]["module"] == "8: Flatten"
    assert ops[0]["rule"].startswith("dx = col2im(W.T @ grad)")
    leaves = _by_name(g)
    assert set(leaves) == {"x", "0.weight", "1.weight", "1.bias", "4.weight", "5.weight", "5.bias", "10.weight",
                           "11.weight", "11.bias", "14.weight", "14.bias"}
    assert leaves["4.weight"]["module"] == "4: Conv2d" and leaves["4.weight"]["shape"] == (32, 16, 5, 5)
    loss.backward()
    assert all(n["grad"]["shape"] == n["output"] for n in _ops(g))
    assert _by_name(g)["4.weight"]["grad"]["norm"] == pytest.approx(float(np.linalg.norm(model[4].weight.grad.numpy())),
                                                                   rel=1e-5)


@pytest.mark.parametrize("a, b", [((64, 10), (10,)), ((64, 10), (64, 1)), ((3, 1, 5), (4, 5)),
                                  ((2, 1, 3), (1, 4, 1)), ((5,), ())])
def test_broadcast_marks_match_unbroadcast(a, b):
    x = mt.randn(*a, requires_grad=True)
    y = mt.randn(*b, requires_grad=True) if b else mt.tensor(0.5, requires_grad=True)
    g = graph((x + y).sum())
    out = np.broadcast_shapes(a, b)
    marks = {e["shape"]: e["sum_axes"] for e in g.edges if e["dst"] == _ops(g)[0]["id"]}
    for shape in (a, b):
        grad = np.random.default_rng(0).standard_normal(out)
        axes = marks[shape]
        np.testing.assert_allclose(np.sum(grad, axis=axes).reshape(shape), unbroadcast(grad, shape))
        assert (axes == ()) == (shape == out)


def test_broadcast_labels_on_the_edges():
    x, w = mt.randn(64, 20), mt.randn(20, 10, requires_grad=True)
    b = mt.zeros(10, requires_grad=True)
    g = graph((x @ w + b).sum(), params={"W": w, "b": b})
    ids = {n["id"]: n["name"] for n in g.nodes}
    labels = {ids[e["src"]]: e["label"] for e in g.edges}
    assert labels["b"] == "sum over axis 0" and labels["W"] is None
    assert "sum over axis 0" in g.source
    a, m = mt.randn(5, 3, 4, requires_grad=True), mt.randn(4, 2, requires_grad=True)
    g = graph((a @ m).sum(), params={"a": a, "m": m})
    ids = {n["id"]: n["name"] for n in g.nodes}
    assert {ids[e["src"]]: e["sum_axes"] for e in g.edges} == {"a": (), "m": (0,), ids[_ops(g)[0]["id"]]: ()}


def test_matmul_marks_match_the_gradient_autograd_sums():
    assert summed_axes("MatMul", 1, [(5, 3, 4), (4, 2)], (5, 3, 2)) == (0,)
    assert summed_axes("MatMul", 0, [(3, 4), (6, 1, 4, 2)], (6, 1, 3, 2)) == (0, 1)
    assert summed_axes("MatMul", 1, [(2, 1, 3, 4), (5, 4, 2)], (2, 5, 3, 2)) == (0,)
    assert summed_axes("MatMul", 0, [(4,), (7, 4, 2)], (7, 2)) == (0,)
    assert summed_axes("Linear", 2, [(64, 5), (3, 5), (3,)], (64, 3)) == ()


def test_gradients_after_backward_match_autograd():
    model, logits, loss = _mlp_loss()
    logits.retain_grad()
    before = len(autograd.backward_observers)
    g = graph(loss)
    assert all(n["grad"] is None for n in g.nodes) and g.observing
    loss.backward()
    assert len(autograd.backward_observers) == before and not g.observing
    ops = _ops(g)
    assert ops[-1]["grad"] == {"shape": (), "norm": 1.0}
    assert ops[-2]["grad"]["shape"] == (64, 10)
    assert ops[-2]["grad"]["norm"] == pytest.approx(float(np.linalg.norm(logits.grad.numpy())), rel=1e-6)
    assert all(n["grad"]["shape"] == n["output"] for n in ops)
    params = dict(model.named_parameters())
    for name, leaf in _by_name(g).items():
        if name == "x":
            assert leaf["grad"] is None
            continue
        assert leaf["grad"]["shape"] == leaf["shape"]
        assert leaf["grad"]["norm"] == pytest.approx(float(np.linalg.norm(params[name].grad.numpy())), rel=1e-5)
    assert "norm" in g.source


def test_leaf_gradient_sums_paths_and_broadcasts(device):
    w = mt.tensor(np.array([1.0, -2.0, 3.0]), device=device, requires_grad=True)
    x = mt.tensor(np.arange(6.0).reshape(2, 3), device=device)
    loss = (x * w + w * w).sum()  # w reaches the loss three times, once broadcast over x's rows
    g = graph(loss, params={"w": w})
    loss.backward()
    assert _by_name(g)["w"]["grad"]["shape"] == (3,)
    assert _by_name(g)["w"]["grad"]["norm"] == pytest.approx(float(np.linalg.norm(w.grad.numpy())))
    assert [n["grad"]["shape"] for n in _ops(g)] == [(2, 3), (3,), (2, 3), ()]


def test_only_the_next_backward_through_the_root_is_observed():
    w = mt.randn(3, requires_grad=True)
    loss = (w * 2).sum()
    before = len(autograd.backward_observers)
    g = graph(loss, params={"w": w})
    (w * 3).sum().backward()  # another backward first: the drawing stops waiting
    assert len(autograd.backward_observers) == before and not g.observing
    loss.backward()
    assert all(n["grad"] is None for n in g.nodes)


def test_a_backward_through_a_sum_of_losses_is_observed():
    w = mt.randn(3, requires_grad=True)
    first, second = (w * 2).sum(), (w * w).sum()
    g = graph(first, params={"w": w})
    (second + 3 * first).backward()
    assert not g.observing
    assert _ops(g)[-1]["grad"] == {"shape": (), "norm": 3.0}
    assert _by_name(g)["w"]["grad"]["norm"] == pytest.approx(6 * 3 ** 0.5)  # only this graph's share: 3 * 2


def test_rules_drop_absent_inputs_and_mark_skipped_gradients():
    _, _, loss = _mlp_loss(8)
    first = _ops(graph(loss))[0]
    assert first["rule_lines"] == [{"text": "dx = grad @ W", "computed": False},  # x needs no gradient
                                   {"text": "dW = grad.T @ x", "computed": True},
                                   {"text": "db = sum over batch", "computed": True}]
    model = mnist_cnn()
    conv = _ops(graph(model(mt.randn(2, 1, 28, 28)).sum()))[0]  # a Conv2d without bias: no db line
    assert [line["text"].split(" = ")[0] for line in conv["rule_lines"]] == ["dx", "dW"]
    x = mt.randn(4, 3, requires_grad=True)
    bn = _ops(graph(F.batch_norm(x, None, None, mt.ones(3, requires_grad=True), None, training=True).sum()))[0]
    assert [(line["text"][:2], line["computed"]) for line in bn["rule_lines"]] == [("dx", True), ("dw", True)]
    assert "(not needed)" in graph(loss).source


def test_a_user_function_without_a_rule_is_drawn():
    class Twice(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    w = mt.randn(3, requires_grad=True)
    op = _ops(graph(Twice.apply(w).sum()))[0]
    assert op["name"] == "Twice" and op["rule"] == "" and op["rule_lines"] == [] and op["output"] == (3,)


def test_dropped_drawing_unregisters_itself():
    w = mt.randn(3, requires_grad=True)
    before = len(autograd.backward_observers)
    g = graph((w * 2).sum())
    assert len(autograd.backward_observers) == before + 1
    del g
    assert len(autograd.backward_observers) == before


def test_freed_graph_and_no_graph_raise_clearly():
    model, _, loss = _mlp_loss(8)
    loss.backward()
    with pytest.raises(RuntimeError, match=r"before loss\.backward\(\).*retain_graph=True"):
        graph(loss)
    _, _, loss = _mlp_loss(8)
    loss.backward(retain_graph=True)
    assert [n["name"] for n in _ops(graph(loss))][-1] == "CrossEntropy"
    with pytest.raises(ValueError, match="no recorded graph"):
        graph(mt.randn(3, requires_grad=True))
    model.eval()
    with mt.no_grad():
        with pytest.raises(ValueError, match="no recorded graph"):
            graph(model(mt.randn(4, 784)).sum())


def test_arguments_are_checked():
    _, _, loss = _mlp_loss(8)
    with pytest.raises(ValueError, match="group_by"):
        graph(loss, group_by="layer")
    with pytest.raises(ValueError, match="depth"):
        graph(loss, depth=1)
    with pytest.raises(TypeError, match="params"):
        graph(loss, params=[1, 2])


def test_params_from_a_module_or_a_dict():
    model, _, loss = _mlp_loss(8)
    assert "0.weight" in _by_name(graph(loss, params=model))
    names = _by_name(graph(loss, params={"fc1.w": model[0].weight}))
    assert "fc1.w" in names and names["fc1.w"]["named"] and "0.bias" not in names


def test_group_by_module_boxes_each_call():
    model, _, loss = _mlp_loss(8)
    g = graph(loss, group_by="module")
    ops = _ops(g)
    assert [n["module"] for n in ops] == ["0: Linear", "1: BatchNorm1d", "2: ReLU", "3: Dropout", "4: Linear", None]
    assert _by_name(g)["1.bias"]["module"] == "1: BatchNorm1d" and _by_name(g)["x"]["module"] is None
    src = g.source
    assert src.count("subgraph cluster_") == 6 and "<B>Sequential</B>" in src and "<B>0: Linear</B>" in src
    # nested: the layers' boxes are drawn inside the Sequential's
    outer = src.index("<B>Sequential</B>")
    assert all(src.index(f"<B>{m}</B>") > outer for m in ("0: Linear", "4: Linear"))
    assert graph(_mlp_loss(8)[2]).source.count("subgraph") == 0  # no boxes unless asked


def test_nested_named_modules():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(6, 6), nn.Linear(6, 6)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block, self.head = Block(), nn.Linear(6, 2)

        def forward(self, x):
            return self.head(self.block(x) + x)

    net = Net()
    g = graph(net(mt.randn(4, 6)).sum(), group_by="module")
    modules = {n["name"]: n["module"] for n in _ops(g)}
    assert modules["ReLU"] == "block: Block" and modules["Add"] == "Net" and modules["Sum"] is None
    assert {n["module"] for n in _ops(g) if n["name"] == "Linear"} == {"block.fc1: Linear", "block.fc2: Linear",
                                                                       "head: Linear"}
    assert "block.fc2.bias" in _by_name(g)


def test_a_hundred_layers_collapse_to_a_hundred_nodes():
    model = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.ReLU()) for _ in range(50)])
    loss = model(mt.randn(4, 8)).sum()
    full = graph(loss, group_by="module")
    assert len(full.nodes) == 100 + 100 + 1 + 1 and full.source.count("subgraph cluster_") == 1 + 50 + 100
    blocks = graph(loss, group_by="module", depth=1)
    assert len(blocks.nodes) == 50 + 1 + 1 and len(blocks.edges) == 51
    first = next(n for n in blocks.nodes if n["kind"] == "module")
    assert first["name"] == "0: Sequential" and first["params"] == 72 and first["ops"] == 2
    assert first["inputs"] == [(4, 8)] and first["output"] == (4, 8) and first["module"] == "Sequential"
    layers = graph(loss, group_by="module", depth=2)
    kinds = [n["kind"] for n in layers.nodes]
    assert kinds.count("module") == 100 and len(kinds) == 102
    assert {n["name"] for n in layers.nodes if n["kind"] == "module"} >= {"0.0: Linear", "49.1: ReLU"}
    whole = graph(loss, group_by="module", depth=0)
    assert [n["kind"] for n in whole.nodes].count("module") == 1 and len(whole.nodes) == 3


def test_collapsed_nodes_show_gradients():
    model = nn.Sequential(*[nn.Linear(8, 8) for _ in range(100)])
    out = model(mt.randn(4, 8))
    out.retain_grad()
    loss = (out * out).sum()
    g = graph(loss, group_by="module", depth=1)
    assert len(g.nodes) == 100 + 1 + 2
    loss.backward()
    last = [n for n in g.nodes if n["kind"] == "module"][-1]
    assert last["name"] == "99: Linear" and last["params"] == 72
    assert last["grad"]["norm"] == pytest.approx(float(np.linalg.norm(out.grad.numpy())), rel=1e-6)


def test_graphviz_is_imported_only_when_drawing():
    code = ("import sys, minitorch; assert callable(minitorch.viz.graph); assert 'graphviz' not in sys.modules; "
            "from minitorch.viz import graph; assert graph is minitorch.viz.graph")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_graphviz_package_says_how_to_install(monkeypatch):
    _, _, loss = _mlp_loss(8)
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match=r'pip install "minitorch\[viz\]"'):
        graph(loss)


def test_missing_dot_says_how_to_install(monkeypatch, tmp_path):
    _, _, loss = _mlp_loss(8)
    g = graph(loss)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError) as info:
        g.render(tmp_path / "g.svg")
    for text in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz",
                 "https://graphviz.org/download/"):
        assert text in str(info.value)
    with pytest.raises(ValueError, match="suffix|ending"):
        g.render(tmp_path / "g.txt")


@needs_dot
def test_render_svg_png_and_jupyter(tmp_path):
    _, _, loss = _mlp_loss(8)
    g = graph(loss, group_by="module")
    loss.backward()
    svg = g.render(tmp_path / "g.svg")
    text = open(svg).read()
    assert "<svg" in text and "BatchNormTrain" in text and "0.weight" in text
    png = g.render(tmp_path / "g.png", dpi=72)
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in g._repr_svg_()
