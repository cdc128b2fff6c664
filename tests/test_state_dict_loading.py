"""All-or-nothing loads: Module.load_state_dict and Optimizer.load_state_dict check and convert every
key, shape, dtype and value before writing anything; an error changes nothing, not even a version."""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim


def seven_tensor_net() -> nn.Module:
    """Six tensors (three Linear layers), then a seventh and more (a BatchNorm1d)."""
    return nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 3), nn.Linear(3, 2), nn.BatchNorm1d(2))


def snapshot(net: nn.Module) -> dict:
    """Each tensor's object, array object, values and version."""
    return {k: (t, t.array, t.detach().numpy().copy(), t._vc[0]) for k, t in net.state_dict(keep_vars=True).items()}


def assert_unchanged(net: nn.Module, before: dict) -> None:
    for key, t in net.state_dict(keep_vars=True).items():
        obj, array, values, version = before[key]
        assert t is obj and t.array is array and t._vc[0] == version, key
        np.testing.assert_array_equal(t.detach().numpy(), values, err_msg=key)


BAD_VALUES = {
    "a string": ("abc", 'cannot load "3.weight": its value is a <U3 array'),
    "an object": (object(), "its value is a object array"),
    "None": (None, "its value is a object array"),
    "a ragged list": ([[1.0], [1.0, 2.0]], 'cannot load "3.weight": list is not an array'),
    "complex numbers": (np.ones(2, np.complex64), "complex64 array"),
    "dates": (np.array(["2024-01-01", "2024-01-02"], "datetime64[D]"), "datetime64[D] array"),
    "the wrong shape": (mt.ones(3), r"size mismatch for 3.weight: copying a param with shape (3,)"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_six_tensors_then_a_bad_one_overwrites_nothing(case: str) -> None:
    net, source = seven_tensor_net(), seven_tensor_net()
    bad, message = BAD_VALUES[case]
    state = source.state_dict()
    assert list(state)[6] == "3.weight"
    state["3.weight"] = bad
    before = snapshot(net)
    with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict for Sequential") as err:
        net.load_state_dict(state)
    assert message in str(err.value)
    assert_unchanged(net, before)


def test_every_problem_is_reported_at_once() -> None:
    net = seven_tensor_net()
    state = {**net.state_dict(), "0.weight": "x", "1.bias": mt.ones(7), "extra": mt.ones(1)}
    del state["2.bias"]
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(state)
    message = str(err.value)
    for part in ['Missing key(s) in state_dict: "2.bias"', 'Unexpected key(s) in state_dict: "extra"',
                 'cannot load "0.weight"', "size mismatch for 1.bias"]:
        assert part in message


def test_non_finite_float_into_an_integer_buffer() -> None:
    net = seven_tensor_net()
    state = {**net.state_dict(), "3.num_batches_tracked": np.array(float("nan"))}
    before = snapshot(net)
    with pytest.raises(RuntimeError, match="non-finite values cannot be stored in int64"):
        net.load_state_dict(state)
    assert_unchanged(net, before)
    net.load_state_dict({**net.state_dict(), "3.num_batches_tracked": np.array(4.0)})  # a whole float is fine
    assert net[3].num_batches_tracked.item() == 4


def test_values_are_converted_like_pytorch() -> None:
    net = nn.Linear(2, 2)
    weight = net.weight
    net.load_state_dict({"weight": [[1, 2], [3, 4]], "bias": np.array([0.5, 0.25], np.float64)})
    assert net.weight is weight and net.weight.dtype == mt.float32
    assert net.weight.detach().numpy().tolist() == [[1, 2], [3, 4]]
    assert net.bias.detach().numpy().tolist() == [0.5, 0.25]


def test_strict_false_returns_missing_and_unexpected_keys() -> None:
    net = seven_tensor_net()
    state = {k: v for k, v in seven_tensor_net().state_dict().items() if not k.startswith("3.")}
    result = net.load_state_dict({**state, "head.weight": mt.ones(1)}, strict=False)
    assert result.missing_keys == ["3.weight", "3.bias", "3.running_mean", "3.running_var", "3.num_batches_tracked"]
    assert result.unexpected_keys == ["head.weight"]
    assert result == (result.missing_keys, result.unexpected_keys)  # a named tuple, as in PyTorch
    assert net.load_state_dict(net.state_dict()) == ([], [])


def test_state_dict_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like, got list"):
        nn.Linear(1, 1).load_state_dict([("weight", mt.ones(1, 1))])


# -- optimizers ---------------------------------------------------------------------------------
def trained_adam() -> tuple[nn.Module, optim.Optimizer]:
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    opt = optim.Adam(net.parameters(), lr=0.01)
    for _ in range(2):
        opt.zero_grad()
        net(mt.randn(4, 2)).sum().backward()
        opt.step()
    return net, opt


def opt_snapshot(opt: optim.Optimizer) -> tuple:
    state = {id(p): {k: (v.detach().numpy().copy() if isinstance(v, mt.Tensor) else v) for k, v in s.items()}
             for p, s in opt.state.items()}
    return state, [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups], opt.state


def assert_opt_unchanged(opt: optim.Optimizer, before: tuple) -> None:
    state, groups, state_obj = before
    assert opt.state is state_obj
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == groups
    for p, s in opt.state.items():
        for k, v in s.items():
            np.testing.assert_array_equal(v.detach().numpy() if isinstance(v, mt.Tensor) else v, state[id(p)][k])


def _bad_state(sd: dict, index: int, name: str, value) -> dict:
    state = {i: dict(s) for i, s in sd["state"].items()}
    state.setdefault(index, {})[name] = value
    return {**sd, "state": state}


OPT_CASES = {
    "state for a parameter that does not exist": (lambda sd: {**sd, "state": {**sd["state"], 7: {"step": 1}}},
                                                  "state for parameter index 7, but its parameter groups hold only "
                                                  "indices [0, 1, 2, 3]"),
    "a string array as state": (lambda sd: _bad_state(sd, 3, "exp_avg", np.array(["a"])), "state[3]['exp_avg'] is a"),
    "state of the wrong shape": (lambda sd: _bad_state(sd, 3, "exp_avg", mt.ones(5)), "has shape (5,), but its"),
    "a negative step": (lambda sd: _bad_state(sd, 3, "step", -1), "state[3]['step'] must be a number >= 0"),
    "a step that is text": (lambda sd: _bad_state(sd, 3, "step", "two"), "must be a number >= 0"),
    "a negative learning rate": (lambda sd: {**sd, "param_groups": [{**sd["param_groups"][0], "lr": -1.0}]},
                                 "parameter group 0: Invalid learning rate: -1.0"),
    "a learning rate that is text": (lambda sd: {**sd, "param_groups": [{**sd["param_groups"][0], "lr": "fast"}]},
                                     "parameter group 0:"),
    "too few parameters": (lambda sd: {**sd, "param_groups": [{**sd["param_groups"][0], "params": [0, 1]}]},
                           "the loaded state dict has 2 parameters, this optimizer has 4"),
    "a repeated index": (lambda sd: {**sd, "param_groups": [{**sd["param_groups"][0], "params": [0, 1, 1, 2]}]},
                         "repeats a parameter index"),
    "indices that are not ints": (lambda sd: {**sd, "param_groups": [{**sd["param_groups"][0], "params": "0123"}]},
                                  "must be a list of parameter indices"),
    "no 'state'": (lambda sd: {"param_groups": sd["param_groups"]}, "has the keys 'state' and 'param_groups'"),
    "not a dict": (lambda sd: [sd], "has the keys 'state' and 'param_groups'; got list"),
    "two groups for one": (lambda sd: {**sd, "param_groups": sd["param_groups"] * 2}, "has 2 parameter groups"),
}


@pytest.mark.parametrize("case", list(OPT_CASES))
def test_optimizer_load_is_checked_first(case: str) -> None:
    _, opt = trained_adam()
    _, other = trained_adam()
    make, message = OPT_CASES[case]
    before = opt_snapshot(opt)
    with pytest.raises(ValueError) as err:
        opt.load_state_dict(make(other.state_dict()))
    assert message in str(err.value)
    assert_opt_unchanged(opt, before)


def test_optimizer_state_keys_from_other_serialisers() -> None:
    """String indices ("3", as JSON writes them) and NumPy integers are accepted."""
    _, opt = trained_adam()
    sd = opt.state_dict()
    sd = {"state": {str(k): v for k, v in sd["state"].items()},
          "param_groups": [{**g, "params": [np.int64(i) for i in g["params"]]} for g in sd["param_groups"]]}
    fresh = optim.Adam(list(opt.param_groups[0]["params"]), lr=0.5)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == 0.01 and len(fresh.state) == 4
