"""Constructors infer dtypes as PyTorch's do; random ones take a Generator; from_numpy shares memory."""
import numpy as np
import pytest

import minitorch as mt


def _torch():
    return pytest.importorskip("torch")


CONSTRUCTORS = [
    "T.full((2,), 4)", "T.full((2,), 4.0)", "T.full((2,), True)", "T.full((2, 1), np.float64(4.0))",
    "T.full((2,), np.int32(4))", "T.full((2,), T.tensor(4.0))", "T.full([], 4.0)", "T.full((2,), 2.5, dtype=T.int64)",
    "T.zeros(2, 3)", "T.zeros((2, 3))", "T.zeros([2, 3], dtype=T.int32)", "T.zeros(())", "T.ones(3, dtype=T.bool)",
    "T.empty(2, 3)", "T.empty_like(T.tensor([1, 2]))", "T.zeros_like(T.tensor([1, 2]), dtype=T.float64)",
    "T.ones_like(T.tensor([1.0]))", "T.full_like(T.tensor([1, 2]), 2.7)", "T.full_like(T.tensor([1.0, 2.0]), 2)",
    "T.arange(5)", "T.arange(0.0, 5)", "T.arange(0, 1, 0.1)", "T.arange(1, 2.5, 0.5)", "T.arange(5, 0, -1)",
    "T.arange(0, 10, 3, dtype=T.float32)", "T.arange(0.5, 3, dtype=T.int64)", "T.arange(T.tensor(3))",
    "T.arange(np.int32(3))", "T.arange(np.float64(3))", "T.arange(True)", "T.arange(0, 0)", "T.arange(-3, 3, 2)",
    "T.linspace(0, 1, 5)", "T.linspace(0, 10, 3)", "T.linspace(0, 10, 3, dtype=T.int64)", "T.linspace(0, 1, 1)",
    "T.linspace(0, 1, 0)", "T.linspace(3, 1, 2)", "T.linspace(-1, 1, 7, dtype=T.float64)",
    "T.eye(2, 3)", "T.eye(3)", "T.eye(2, dtype=T.int64)", "T.as_tensor([1, 2])",
    "T.as_tensor(np.array([1.0, 2.0]), dtype=T.float32)", "T.tensor(True)", "T.tensor([[1, 2], [3, 4]])",
    "T.tensor(np.array([1.0, 2.0]))", "T.tensor([1, 2], dtype=T.float64)",
]
CONSTRUCTOR_ERRORS = [
    "T.arange(0, 5, 0)", "T.arange(5, 0)", "T.arange(0, -1)", "T.zeros(-1)", "T.ones(2.0)", "T.rand(2, dtype=T.int64)",
    "T.randn(2, dtype=T.int64)", "T.zeros(2, dtype=T.int64, requires_grad=True)",
    "T.tensor([1, 2], requires_grad=True)", "T.randint(5, 3, (2,))", "T.randint(0, (2,))",
    "T.from_numpy(np.float64(1))", "T.multinomial(T.tensor([0.0, 0.0]), 1)", "T.multinomial(T.tensor([-1.0, 2.0]), 1)",
    "T.multinomial(T.tensor([1, 2]), 1)", "T.multinomial(T.tensor([1.0, 2.0]), 0)", "T.multinomial(T.tensor(1.0), 1)",
    "T.multinomial(T.tensor([1.0, float('nan')]), 1)", "T.multinomial(T.tensor([1.0, 2.0]), 3)",
]


@pytest.mark.parametrize("expr", CONSTRUCTORS)
def test_constructors_match_pytorch(expr):
    torch = _torch()
    mine, theirs = eval(expr, {"T": mt, "np": np}), eval(expr, {"T": torch, "np": np})
    assert mine.dtype.name == str(theirs.dtype).split(".")[-1], expr
    assert mine.shape == tuple(theirs.shape), expr
    if expr.startswith("T.empty"):
        return  # whatever the memory held
    np.testing.assert_allclose(mine.numpy().astype(float), theirs.numpy().astype(float), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("expr", CONSTRUCTOR_ERRORS)
def test_constructor_errors_match_pytorch(expr):
    torch = _torch()
    with pytest.raises(Exception) as theirs:
        eval(expr, {"T": torch, "np": np})
    with pytest.raises(Exception) as mine:
        eval(expr, {"T": mt, "np": np})
    assert isinstance(mine.value, RuntimeError) == isinstance(theirs.value, RuntimeError), (mine.value, theirs.value)
    assert isinstance(mine.value, TypeError) == isinstance(theirs.value, TypeError), (mine.value, theirs.value)


def test_constructors_place_on_the_device(device):
    for t in (mt.zeros(2, device=device), mt.full((2,), 1, device=device), mt.arange(3, device=device),
              mt.linspace(0, 1, 3, device=device), mt.eye(2, device=device), mt.empty(2, device=device),
              mt.rand(2, device=device), mt.randn(2, device=device), mt.randint(3, (2,), device=device),
              mt.randperm(4, device=device), mt.full_like(mt.zeros(2, device=device), 2.0)):
        assert t.device == device
    assert mt.arange(0, 1, 0.25, device=device).tolist() == [0.0, 0.25, 0.5, 0.75]


def test_from_numpy_shares_memory_and_as_tensor_shares_when_it_can():
    host = np.array([1.0, 2.0])
    t = mt.from_numpy(host)
    host[0] = 7.0
    assert t.tolist() == [7.0, 2.0] and t.dtype == mt.float64 and t.device == "cpu"
    t.add_(1)
    assert host.tolist() == [8.0, 3.0]
    shared = mt.as_tensor(host)
    host[1] = -1.0
    assert shared.tolist() == [8.0, -1.0]
    assert mt.as_tensor(shared) is shared
    assert mt.as_tensor(host, dtype=mt.float32).dtype == mt.float32  # a converted copy
    with pytest.raises(TypeError):
        mt.from_numpy(np.array(["a"]))


def test_random_constructors_follow_the_seed_and_the_generator(device):
    mt.manual_seed(3)
    first = mt.rand(4, device=device).tolist()
    mt.manual_seed(3)
    assert mt.rand(4, device=device).tolist() == first
    g = mt.Generator(device=device).manual_seed(42)
    assert isinstance(g, mt.Generator) and g.initial_seed() == 42

    def draw():
        return [mt.randn(3, generator=g, device=device).tolist(),
                mt.randint(0, 10, (5,), generator=g, device=device).tolist(),
                mt.randperm(6, generator=g, device=device).tolist(), mt.rand(2, generator=g, device=device).tolist()]
    draws = draw()
    g.manual_seed(42)
    assert draw() == draws
    mt.manual_seed(3)
    mt.rand(4, generator=mt.Generator(device=device), device=device)  # another stream: the device's is untouched
    assert mt.rand(4, device=device).tolist() == first


def test_generator_state_round_trips():
    g = mt.Generator().manual_seed(7)
    state = g.get_state()
    assert state.dtype == mt.uint8
    a = mt.rand(5, generator=g).tolist()
    g.set_state(state)
    assert mt.rand(5, generator=g).tolist() == a


def test_a_generator_of_another_device_is_refused():
    g = mt.Generator(device="cpu")
    with pytest.raises(RuntimeError, match="generator"):
        mt.rand(2, generator=g, device="strict")


def test_randint_and_randperm_are_uniform_and_in_range():
    g = mt.Generator().manual_seed(0)
    x = mt.randint(-3, 4, (70000,), generator=g)
    assert x.dtype == mt.int64 and int(x.min()) == -3 and int(x.max()) == 3
    counts = np.bincount(x.numpy() + 3)
    assert np.all(np.abs(counts / 10000 - 1) < 0.05)
    assert sorted(mt.randperm(50, generator=g).tolist()) == list(range(50))
    assert mt.randint(10, (2, 3)).shape == (2, 3) and mt.randint(10, size=(4,)).shape == (4,)
    assert mt.randint_like(mt.zeros(2, 2), 5).dtype == mt.float32
    assert mt.rand_like(mt.zeros(2), dtype=mt.float64).dtype == mt.float64


def test_multinomial_draws_in_proportion_and_without_repeats():
    g = mt.Generator().manual_seed(2147483647)
    p = mt.tensor([0.1, 0.0, 0.6, 0.3])
    draws = mt.multinomial(p, 20000, replacement=True, generator=g)
    assert draws.dtype == mt.int64 and draws.shape == (20000,)
    freq = np.bincount(draws.numpy(), minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.015)
    rows = mt.multinomial(mt.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]]), 2, generator=g)
    assert rows.shape == (2, 2)
    assert sorted(rows[0].tolist()) == [0, 1] and sorted(rows[1].tolist()) == [1, 2]
    assert sorted(mt.multinomial(mt.tensor([0.0, 1.0, 1.0]), 3, generator=g).tolist()) == [0, 1, 2]
    assert mt.multinomial(mt.tensor([0.0, 0.0, 5.0]), 1).tolist() == [2]


def test_makemore_sampling_loop_runs():
    g = mt.Generator().manual_seed(2147483647)
    logits = mt.randn((27, 27), generator=g)
    ix, out = 0, []
    for _ in range(20):
        p = logits[ix].exp()
        p = p / p.sum()
        ix = mt.multinomial(p, num_samples=1, replacement=True, generator=g).item()
        out.append(ix)
    assert all(0 <= i < 27 for i in out)


def test_normal():
    g = mt.Generator().manual_seed(1)
    x = mt.normal(2.0, 3.0, size=(20000,), generator=g)
    assert x.dtype == mt.float32 and abs(float(x.mean()) - 2.0) < 0.1 and abs(float(x.std()) - 3.0) < 0.1
    assert mt.normal(mt.zeros(3), 1.0).shape == (3,)
    assert mt.normal(mt.zeros(3), mt.ones(2, 1)).shape == (2, 3)
