"""ModuleList, ModuleDict, ParameterList, ParameterDict: the list/dict API, and state_dict keys as PyTorch's."""
import numpy as np
import pytest

import minitorch as mt
import minitorch.nn as nn

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of these tests (pip install -e '.[torch]')")
tnn = torch.nn


def _layers(lib):
    return [lib.Linear(2, 3), lib.ReLU(), lib.Linear(3, 1)]


PROGRAMS = {
    "list": lambda L: L.ModuleList(_layers(L)),
    "append_extend_insert": lambda L: (lambda m: (m.append(L.Linear(1, 2)), m.extend([L.Tanh(), L.Linear(2, 2)]),
                                                  m.insert(1, L.Linear(4, 4)), m.insert(3, L.Linear(5, 5)), m)[-1])(
        L.ModuleList(_layers(L))),
    "iadd_and_delete": lambda L: (lambda m: (m.__iadd__([L.Linear(6, 6)]), m.__delitem__(0), m.__delitem__(slice(0, 1)),
                                             m)[-1])(L.ModuleList(_layers(L))),
    "setitem_negative": lambda L: (lambda m: (m.__setitem__(-1, L.Linear(7, 7)), m)[-1])(L.ModuleList(_layers(L))),
    "nested": lambda L: L.Sequential(L.ModuleList([L.Linear(2, 2), L.ModuleList([L.Linear(2, 3)])]), L.Linear(3, 3)),
    "dict": lambda L: L.ModuleDict({"enc": L.Linear(2, 3), "act": L.ReLU(), "dec": L.Linear(3, 2)}),
    "dict_update_pop": lambda L: (lambda m: (m.update([("z", L.Linear(1, 1)), ("a", L.Linear(2, 1))]), m.pop("enc"),
                                             m.__setitem__("act", L.Linear(5, 1)), m)[-1])(
        L.ModuleDict({"enc": L.Linear(2, 3), "act": L.ReLU()})),
    "params": lambda L: L.ParameterList([L.Parameter(torch.zeros(2) if L is tnn else mt.zeros(2)),
                                         L.Parameter(torch.zeros(2, 3) if L is tnn else mt.zeros(2, 3))]),
    "param_dict": lambda L: L.ParameterDict({"b": L.Parameter(torch.zeros(2) if L is tnn else mt.zeros(2)),
                                             "a": L.Parameter(torch.zeros(1) if L is tnn else mt.zeros(1))}),
}


class _Net:
    """A module holding containers, built for either library."""

    @staticmethod
    def make(L):
        class Net(L.Module):
            def __init__(self):
                super().__init__()
                self.layers = L.ModuleList([L.Linear(2, 4), L.Linear(4, 4)])
                self.heads = L.ModuleDict({"cls": L.Linear(4, 3), "reg": L.Linear(4, 1)})
                self.scales = L.ParameterList([L.Parameter(torch.ones(4) if L is tnn else mt.ones(4))])
                self.extra = L.ParameterDict({"t": L.Parameter(torch.ones(1) if L is tnn else mt.ones(1))})
                self.norm = L.BatchNorm1d(4)

            def forward(self, x):
                for layer in self.layers:
                    x = layer(x) * self.scales[0]
                x = self.norm(x)
                return self.heads["cls"](x) + self.heads["reg"](x) * self.extra["t"]
        return Net()


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_state_dict_keys_and_shapes_match_torch(name):
    ours, theirs = PROGRAMS[name](nn), PROGRAMS[name](tnn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [tuple(v.shape) for v in ours.state_dict().values()] == [tuple(v.shape) for v in theirs.state_dict().values()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    if hasattr(theirs, "__len__"):
        assert len(ours) == len(theirs)


def test_module_holding_containers_matches_torch_and_loads_its_state():
    ours, theirs = _Net.make(nn), _Net.make(tnn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    theirs.eval(), ours.eval()
    host = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    np.testing.assert_allclose(ours(mt.tensor(host)).detach().numpy(), theirs(torch.from_numpy(host)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))


def test_module_list_indexing_slicing_iteration():
    layers = [nn.Linear(1, 1) for _ in range(5)]
    m = nn.ModuleList(layers)
    assert m[0] is layers[0] and m[-1] is layers[-1] and list(m) == layers
    part = m[1:4:2]
    assert isinstance(part, nn.ModuleList) and list(part) == layers[1:4:2] and list(part.state_dict())[0] == "0.weight"
    with pytest.raises(IndexError, match="out of range"):
        m[5]
    with pytest.raises(IndexError):
        tnn.ModuleList([tnn.Linear(1, 1)])[1]
    assert m.pop(1) is layers[1] and len(m) == 4 and list(m) == [layers[0]] + layers[2:]
    both = m + nn.ModuleList([nn.ReLU()])
    assert len(both) == 5 and len(m) == 4
    with pytest.raises(TypeError):
        m.append(3)
    with pytest.raises(TypeError):
        m.extend(5)
    with pytest.raises(NotImplementedError):
        m(mt.ones(1))


def test_module_dict_api():
    d = nn.ModuleDict([("a", nn.ReLU()), ("b", nn.Tanh())])
    assert list(d) == ["a", "b"] and list(d.keys()) == ["a", "b"] and "a" in d and "z" not in d
    assert [type(v).__name__ for v in d.values()] == ["ReLU", "Tanh"] and len(d) == 2
    assert [k for k, _ in d.items()] == ["a", "b"]
    del d["a"]
    assert list(d) == ["b"]
    d.clear()
    assert len(d) == 0
    with pytest.raises(KeyError):
        d["missing"]
    with pytest.raises(TypeError):
        d[1] = nn.ReLU()
    with pytest.raises(ValueError):
        d.update([("a", nn.ReLU(), 3)])


def test_parameter_containers_wrap_tensors_and_train():
    p = nn.ParameterList([mt.ones(2), nn.Parameter(mt.zeros(3))])
    assert all(isinstance(v, nn.Parameter) and v.requires_grad for v in p)
    p += [mt.ones(1)]
    assert len(p) == 3 and list(p.state_dict()) == ["0", "1", "2"]
    d = nn.ParameterDict({"w": mt.ones(2)})
    d["v"] = mt.zeros(2)
    assert list(d.state_dict()) == ["w", "v"] and isinstance(d["v"], nn.Parameter)
    (p[0] * d["w"]).sum().backward()
    np.testing.assert_array_equal(p[0].grad.numpy(), [1.0, 1.0])
    with pytest.raises(TypeError):
        p.append(3)


def test_containers_move_and_zero_grad_like_any_module():
    m = nn.ModuleList([nn.Linear(2, 2)]).to(mt.float64)
    assert m[0].weight.dtype == mt.float64
    m[0](mt.ones(1, 2, dtype=mt.float64)).sum().backward()
    m.zero_grad()
    assert m[0].weight.grad is None
    assert "ModuleList(\n  (0): Linear" in repr(m)
