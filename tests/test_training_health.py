"""Training health: the numbers a HealthMonitor records (against NumPy recomputations, on every backend),
hooks only on measured steps, train.py's metrics.json / health.png / --tensorboard, and resuming."""
from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim
from minitorch.data import DataLoader, TensorDataset
from minitorch.training import health as health_module
from minitorch.training import train_epoch
from minitorch.training.health import HealthMonitor, attach_forward_hook
from test_train_script import load_train_script, run, run_interrupted
from test_train_script import tiny_mnist  # noqa: F401  (a fixture, used by name)

HOOK_KINDS = ["register_forward_hook", "wrapped forward"]


@pytest.fixture(params=HOOK_KINDS)
def hook_kind(request, monkeypatch):
    """Both ways of seeing a layer's output: Module.register_forward_hook, and wrapping forward without it."""
    if request.param == HOOK_KINDS[0] and not hasattr(nn.Module, "register_forward_hook"):
        pytest.skip("Module.register_forward_hook does not exist yet")
    if request.param == HOOK_KINDS[1] and hasattr(nn.Module, "register_forward_hook"):
        monkeypatch.delattr(nn.Module, "register_forward_hook")
    return request.param


def small_problem(device):
    """A model whose ReLU has 3 of its 8 units dead for every input (bias -100), and its data."""
    mt.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).to(device)
    with mt.no_grad():
        model[0].bias.array[:3] = -100.0
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 6)).astype(np.float32), rng.integers(0, 3, 40)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, device=device)
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), loader


def test_records_match_numpy_recomputations(device, hook_kind):
    model, opt, loader = small_problem(device)
    monitor = HealthMonitor(model, every=2)
    # What the measured steps (0, 2 and 4 of 5) should record, recomputed around a real step.
    x0, y0 = next(iter(loader))
    before = {n: p.detach().numpy().astype(np.float64) for n, p in model.named_parameters()}
    h = np.maximum(x0.numpy() @ before["0.weight"].T + before["0.bias"], 0)
    train_epoch(model, loader, opt, nn.CrossEntropyLoss(), health=monitor)
    assert [r["step"] for r in monitor.records] == [0, 2, 4] and monitor.step == 5
    first = monitor.records[0]
    assert set(first["layers"]) == {"0", "1", "2"} and monitor.summary()["layers"]["1"] == "ReLU"
    relu = first["layers"]["1"]
    np.testing.assert_allclose([relu["mean"], relu["std"]], [h.mean(), h.std()], rtol=1e-5)
    assert relu["dead"] == pytest.approx(3 / 8 + np.mean(~h[:, 3:].any(axis=0)) * 5 / 8)
    assert first["layers"]["0"]["dead"] == 0.0

    # Recompute step 0's gradients and SGD's first update (momentum buffer = gradient) by hand.
    logits = h @ before["2.weight"].T + before["2.bias"]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = (p - np.eye(3)[y0.numpy()]) / len(p)
    grads = {"2.weight": d.T @ h, "2.bias": d.sum(0)}
    for name, g in grads.items():
        stats = first["params"][name]
        assert stats["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-4)
        assert stats["update_ratio"] == pytest.approx(0.1 * np.linalg.norm(g) / np.linalg.norm(before[name]),
                                                      rel=1e-4)
    assert first["loss"] == pytest.approx(-np.log(p[np.arange(len(p)), y0.numpy()]).mean(), rel=1e-5)


def test_a_zero_parameter_has_no_ratio():
    model, opt, loader = small_problem("cpu")
    with mt.no_grad():
        model[2].bias.array[...] = 0
    monitor = HealthMonitor(model, every=100)
    train_epoch(model, loader, opt, nn.CrossEntropyLoss(), max_steps=1, health=monitor)
    assert monitor.records[0]["params"]["2.bias"]["update_ratio"] is None  # no scale to compare with


def test_only_measured_steps_attach_hooks_and_none_stay(hook_kind, monkeypatch):
    model, opt, loader = small_problem("cpu")
    attached, calls = [], []

    def counting(module, hook):
        def counted(*args):
            calls.append(1)
            hook(*args)
        attached.append(module)
        return attach_forward_hook(module, counted)

    monkeypatch.setattr(health_module, "attach_forward_hook", counting)
    monitor = HealthMonitor(model, every=3)
    train_epoch(model, loader, opt, nn.CrossEntropyLoss(), health=monitor)  # steps 0..4: 0 and 3 measured
    assert len(attached) == 2 * 3 and len(calls) == 2 * 3
    model(mt.zeros((2, 6)))
    assert len(calls) == 6  # removed after each measured forward
    assert not any("forward" in m.__dict__ for m in model.modules())


def test_hooks_are_removed_when_the_forward_raises(hook_kind):
    model, _, _ = small_problem("cpu")
    probe = HealthMonitor(model, every=1).probe()
    with pytest.raises(RuntimeError):
        probe.forward(model, mt.zeros((2, 5)))  # a shape error in the first Linear
    model(mt.zeros((2, 6)))
    assert probe.layers == {} and not any("forward" in m.__dict__ for m in model.modules())


def test_every_zero_measures_nothing_and_negative_is_refused():
    model, opt, loader = small_problem("cpu")
    monitor = HealthMonitor(model, every=0)
    train_epoch(model, loader, opt, nn.CrossEntropyLoss(), health=monitor)
    assert monitor.records == [] and monitor.step == 5
    with pytest.raises(ValueError, match="every must be >= 0"):
        HealthMonitor(model, every=-1)


# -- train.py ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def train_script():
    return load_train_script()


QUICK = ("--epochs", "2", "--max-steps", "5", "--batch-size", "16")


def test_train_py_writes_health_into_metrics_and_health_png(train_script, tiny_mnist, tmp_path):  # noqa: F811
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    metrics = run(train_script, tiny_mnist, out, *QUICK, "--health-every", "2")
    assert [r["epoch"] for r in metrics["epochs"]] == [1, 2] and "test_accuracy" in metrics  # as before
    health = metrics["health"]
    assert health["every"] == 2 and [r["step"] for r in health["records"]] == [0, 2, 4, 6, 8]
    assert health["layers"] == {"0": "Linear", "1": "BatchNorm1d", "2": "ReLU", "3": "Dropout", "4": "Linear"}
    assert set(health["records"][0]["params"]) == {n for n, _ in train_script.MODELS["mlp"][0]().named_parameters()}
    assert (out / "health.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / "curves.png").exists()


def test_train_py_health_every_zero_and_no_plot(train_script, tiny_mnist, tmp_path):  # noqa: F811
    off = run(train_script, tiny_mnist, tmp_path / "off", *QUICK, "--health-every", "0")
    assert "health" not in off and not (tmp_path / "off" / "health.png").exists()
    on = run(train_script, tiny_mnist, tmp_path / "on", *QUICK, "--no-plot")
    assert on["health"]["every"] == 100 and [r["step"] for r in on["health"]["records"]] == [0]
    assert not (tmp_path / "on" / "health.png").exists()
    with pytest.raises(SystemExit):
        train_script.parse_args(["--health-every", "-1"])


def test_resumed_run_continues_the_health_records(train_script, tiny_mnist, tmp_path, monkeypatch):  # noqa: F811
    args = ("--epochs", "3", "--max-steps", "4", "--batch-size", "16", "--no-plot", "--health-every", "3")
    straight = run(train_script, tiny_mnist, tmp_path / "straight", *args)["health"]["records"]
    run_interrupted(monkeypatch, train_script, tiny_mnist, tmp_path / "resumed", *args)
    assert train_script.main(["--resume", str(tmp_path / "resumed"), "--no-progress", "--health-every", "3"]) == 0
    resumed = json.loads((tmp_path / "resumed" / "metrics.json").read_text())["health"]["records"]
    assert [r["step"] for r in resumed] == [r["step"] for r in straight] == [0, 3, 6, 9]
    for a, b in zip(straight, resumed):
        assert a["params"]["0.weight"]["grad_norm"] == pytest.approx(b["params"]["0.weight"]["grad_norm"])


def read_events(folder) -> list:
    """Every Event in a folder's TensorBoard files (TFRecord: length, its CRC, data, its CRC)."""
    from tensorboardX.proto import event_pb2
    events = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            events.append(event_pb2.Event.FromString(data[at + 12:at + 12 + length]))
            at += 12 + length + 4
    return events


def test_tensorboard_gets_the_scalars_and_histograms(train_script, tiny_mnist, tmp_path):  # noqa: F811
    pytest.importorskip("tensorboardX")
    metrics = run(train_script, tiny_mnist, tmp_path / "run", *QUICK, "--health-every", "4", "--no-plot",
                  "--tensorboard", str(tmp_path / "tb"))
    values: dict[str, dict[int, float]] = {}
    histograms: dict[str, set] = {}
    for event in read_events(tmp_path / "tb"):
        for v in event.summary.value:
            if v.HasField("histo"):
                histograms.setdefault(v.tag, set()).add(event.step)
                assert v.histo.num > 0
            else:
                values.setdefault(v.tag, {})[event.step] = v.simple_value
    record = metrics["health"]["records"][1]
    assert record["step"] == 4
    assert values["activation_std/2"][4] == pytest.approx(record["layers"]["2"]["std"], rel=1e-6)
    assert values["dead_fraction/2"][4] == pytest.approx(record["layers"]["2"]["dead"], abs=1e-7)
    assert values["grad_norm/0.weight"][4] == pytest.approx(record["params"]["0.weight"]["grad_norm"], rel=1e-6)
    assert values["update_ratio/4.weight"][4] == pytest.approx(record["params"]["4.weight"]["update_ratio"],
                                                              rel=1e-6)
    assert set(values["health/loss"]) == {0, 4, 8}
    assert values["epoch/val_loss"][2] == pytest.approx(metrics["epochs"][1]["val_loss"], rel=1e-6)
    assert histograms["activations/2"] == histograms["gradients/0.weight"] == {0, 4, 8}


def test_a_missing_tensorboardx_is_reported_before_training(train_script, tmp_path, monkeypatch, capsys):
    from minitorch.training import run_cli
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails, as when it is not installed
    code = run_cli(train_script.main, ["--tensorboard", str(tmp_path / "tb"), "--data-dir", str(tmp_path / "none"),
                                       "--out", str(tmp_path / "run")], check_backend=False)
    err = capsys.readouterr().err
    assert code == 1 and 'pip install "minitorch[tensorboard]"' in err and "not found" not in err, err
    assert not (tmp_path / "run").exists() and not (tmp_path / "tb").exists()


def test_plot_health_draws_gaps_and_needs_matplotlib(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from minitorch.viz.health import plot_health
    records = [{"step": s, "loss": 1.0, "layers": {"0": {"mean": 0.1, "std": 1.0, "dead": 0.0},
                                                  "1": {"mean": 0.4, "std": 0.6, "dead": 0.1 * s}},
                "params": {"0.weight": {"grad_norm": 1.0 / (s + 1), "update_ratio": 1e-3},
                           "0.bias": {"grad_norm": 0.1, "update_ratio": None}}} for s in range(0, 50, 10)]
    health = {"every": 10, "layers": {"0": "Linear", "1": "ReLU"}, "records": records}
    assert plot_health(health, tmp_path / "health.png")
    assert (tmp_path / "health.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert not plot_health(health, tmp_path / "none.png") and not (tmp_path / "none.png").exists()
