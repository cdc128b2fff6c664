"""The torch-style namespace: top-level functions equal the Tensor methods and torch's functions, dtype
names, mt.device / mt.cuda / mt.accelerator / mt.backends, grad-mode switches, `import minitorch as torch`
on tutorial code, and AttributeErrors that name the closest existing name."""
import subprocess
import sys

import numpy as np
import pytest

import minitorch as mt
import minitorch.nn.functional as F

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4)).astype(np.float32)
Y = RNG.normal(size=(3, 4)).astype(np.float32)
POS = RNG.uniform(0.5, 2.0, size=(3, 4)).astype(np.float32)
W = RNG.normal(size=(4, 2)).astype(np.float32)
B = X > 0
INDEX = np.array([[0, 3], [1, 1], [2, 0]])

# name -> (positional arguments, keyword arguments); arrays become tensors of the library under test.
CASES = {
    "abs": ((X,), {}), "neg": ((X,), {}), "exp": ((X,), {}), "log": ((POS,), {}), "sqrt": ((POS,), {}),
    "rsqrt": ((POS,), {}), "log1p": ((POS,), {}), "square": ((X,), {}), "reciprocal": ((POS,), {}),
    "sign": ((X,), {}), "sin": ((X,), {}), "cos": ((X,), {}), "floor": ((X,), {}), "ceil": ((X,), {}),
    "round": ((X,), {}), "relu": ((X,), {}), "sigmoid": ((X,), {}), "tanh": ((X,), {}),
    "softmax": ((X, 1), {}), "log_softmax": ((X,), {"dim": -1}), "clamp": ((X,), {"min": -0.5, "max": 0.5}),
    "clip": ((X, -0.2), {}), "pow": ((X, 2), {}), "add": ((X, Y), {"alpha": 2}), "sub": ((X, Y), {}),
    "mul": ((X, 3.0), {}), "div": ((X, POS), {}), "maximum": ((X, Y), {}), "minimum": ((X, Y), {}),
    "floor_divide": ((X, POS), {}), "remainder": ((X, POS), {}),
    "eq": ((X, X), {}), "ne": ((X, Y), {}), "lt": ((X, Y), {}), "le": ((X, Y), {}), "gt": ((X, Y), {}),
    "ge": ((X, Y), {}), "isnan": ((X,), {}), "isinf": ((X,), {}), "isfinite": ((X,), {}),
    "logical_not": ((B,), {}), "logical_and": ((B, ~B), {}), "logical_or": ((B, ~B), {}),
    "where": ((B, X, Y), {}), "allclose": ((X, X + 1e-9), {}), "equal": ((X, Y), {}),
    "sum": ((X, 1), {}), "mean": ((X,), {"dim": 0, "keepdim": True}), "var": ((X, 1), {}), "std": ((X,), {}),
    "prod": ((X, 1), {}), "cumsum": ((X, 1), {}), "logsumexp": ((X, 1), {}), "norm": ((X,), {}),
    "all": ((B,), {}), "any": ((B, 1), {}), "max": ((X, 1), {}), "min": ((X,), {}), "amax": ((X, 0), {}),
    "amin": ((X, 1), {}), "argmax": ((X,), {"dim": 1}), "argmin": ((X,), {}),
    "matmul": ((X, W), {}), "mm": ((X, W), {}), "reshape": ((X, (4, 3)), {}), "flatten": ((X,), {}),
    "transpose": ((X, 0, 1), {}), "permute": ((X, (1, 0)), {}), "t": ((X,), {}),
    "squeeze": ((X[:, :1], 1), {}), "unsqueeze": ((X, 0), {}), "clone": ((X,), {}), "flip": ((X, (0,)), {}),
    "chunk": ((X, 2), {}), "split": ((X, 2, 1), {}), "narrow": ((X, 1, 1, 2), {}), "unbind": ((X, 1), {}),
    "gather": ((X, 1, INDEX), {}), "index_select": ((X, 0, np.array([2, 0])), {}),
    "masked_fill": ((X, B, 0.0), {}), "topk": ((X, 2), {}), "sort": ((X,), {"dim": 0, "descending": True}),
    "argsort": ((X, 1), {}), "cat": (([X, Y],), {"dim": 1}), "concat": (([X, Y],), {}),
    "stack": (([X, Y], 2), {}), "tile": ((X, (2,)), {}), "broadcast_to": ((X[:1], (2, 3, 4)), {}),
    "numel": ((X,), {}), "is_floating_point": ((X,), {}), "detach": ((X,), {}), "lerp": ((X, Y, 0.3), {}),
    "dot": ((X[0], Y[0]), {}),
}


def _convert(value, lib):
    if isinstance(value, np.ndarray):
        return lib.tensor(value)
    if isinstance(value, list):
        return [_convert(v, lib) for v in value]
    return value


def _host(value):
    if isinstance(value, (tuple, list)):
        return [_host(v) for v in value]
    if isinstance(value, (mt.Tensor, torch.Tensor)):
        return np.asarray(value.detach().numpy())
    return value


def _same(a, b):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.shape == b.shape and str(a.dtype) == str(b.dtype)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    else:
        assert a == b


@pytest.mark.parametrize("name", sorted(CASES))
def test_function_matches_method_and_torch(name):
    args, kwargs = CASES[name]
    ours = _host(getattr(mt, name)(*(_convert(a, mt) for a in args), **kwargs))
    _same(ours, _host(getattr(torch, name)(*(_convert(a, torch) for a in args), **kwargs)))
    if hasattr(mt.Tensor, name) and not isinstance(args[0], list) and name != "where":  # x.where(cond, y)
        first, *rest = (_convert(a, mt) for a in args)
        _same(ours, _host(getattr(first, name)(*rest, **kwargs)))


def test_function_forms_are_differentiable():
    x = mt.tensor(X, requires_grad=True)
    mt.sum(mt.relu(x) * 2 + mt.exp(x)).backward()
    np.testing.assert_allclose(x.grad.numpy(), (X > 0) * 2 + np.exp(X), rtol=1e-6)


@pytest.mark.parametrize("name", ["float32", "float", "float64", "double", "float16", "half", "int64", "long",
                                  "int32", "int", "int16", "short", "int8", "uint8", "bool"])
def test_dtype_names(name):
    assert str(getattr(mt, name)) == str(getattr(torch, name)).replace("torch.", "")
    assert mt.tensor([1, 2], dtype=getattr(mt, name)).dtype == getattr(mt, name)
    assert isinstance(getattr(mt, name), mt.dtype)


def test_default_dtype_and_device():
    assert mt.get_default_dtype() == mt.float32
    mt.set_default_dtype(mt.float64)
    try:
        assert mt.tensor([1.5]).dtype == mt.float64
    finally:
        mt.set_default_dtype(mt.float32)
    assert mt.get_default_device() == "cpu" and mt.device("cuda:1").index == 1
    assert mt.is_tensor(mt.tensor(1)) and not mt.is_tensor(1) and mt.numel(mt.zeros(2, 3)) == 6


def test_cuda_module_without_or_with_a_gpu():
    assert mt.cuda_is_available() == mt.cuda.is_available() == mt.accelerator.is_available()
    mt.cuda.manual_seed(0)  # never an error, as in PyTorch
    mt.cuda.manual_seed_all(0)
    mt.cuda.empty_cache()
    if mt.cuda.is_available():
        assert mt.cuda.device_count() >= 1 and isinstance(mt.cuda.get_device_name(0), str)
        assert mt.accelerator.current_accelerator().type == "cuda"
        mt.cuda.synchronize()
    else:
        assert mt.cuda.device_count() == 0 and mt.cuda.memory_allocated() == 0
        assert mt.accelerator.current_accelerator() is None
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            mt.cuda.current_device()
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            mt.cuda.synchronize()


def test_cuda_manual_seed_seeds_cuda_generators_only():
    mt.manual_seed(1)
    a = mt.rand(3).tolist()
    mt.manual_seed(1)
    mt.cuda.manual_seed(99)
    assert mt.rand(3).tolist() == a  # the CPU stream is untouched


def test_backends_flags_and_mps():
    mt.backends.cudnn.benchmark = True
    mt.backends.cudnn.deterministic = True
    assert mt.backends.cudnn.benchmark and not mt.backends.mps.is_available()
    device = "cuda" if mt.cuda.is_available() else "mps" if mt.backends.mps.is_available() else "cpu"
    assert mt.tensor([1.0], device=device).device == device


def test_importing_minitorch_never_imports_cupy():
    code = "import sys, minitorch; minitorch.cuda.is_available; assert 'cupy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_set_grad_enabled_as_call_block_and_decorator():
    x = mt.tensor([1.0], requires_grad=True)
    with mt.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    mt.set_grad_enabled(False)
    assert not mt.is_grad_enabled()
    mt.set_grad_enabled(True)

    @mt.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert mt.is_grad_enabled() and not f(x).requires_grad
    with mt.inference_mode():
        assert not (x * 2).requires_grad
    with mt.inference_mode(False):
        assert (x * 2).requires_grad


def test_shape_checks_of_products():
    with pytest.raises(RuntimeError, match="mm: expected 2-D"):
        mt.mm(mt.ones(3), mt.ones(3, 2))
    with pytest.raises(RuntimeError, match="bmm: expected 3-D"):
        mt.bmm(mt.ones(3, 2), mt.ones(2, 3))
    assert mt.bmm(mt.ones(2, 3, 4), mt.ones(2, 4, 5)).shape == (2, 3, 5)
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions"):
        mt.t(mt.ones(2, 2, 2))


def test_in_place_function_forms():
    x = mt.tensor([-1.0, 2.0])
    assert mt.relu_(x) is x and x.tolist() == [0.0, 2.0]
    mt.clamp_(x, max=1.0)
    mt.zero_(x)
    assert x.tolist() == [0.0, 0.0]


def test_beginner_tutorial_runs_with_minitorch_as_torch():
    """The names of PyTorch's quickstart and of the course's reference loop, written against torch."""
    import minitorch as torch  # noqa: F811
    from minitorch import nn
    from minitorch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.randn(64, 1, 4, 4)
    y = (x.flatten(1).sum(1) > 0).long() + (x[:, 0, 0, 0] > 1).long()  # learnable classes 0, 1, 2
    dataloader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, pin_memory=True, num_workers=0)

    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3))

        def forward(self, x):
            return self.linear_relu_stack(self.flatten(x))

    model = NeuralNetwork().to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-1)
    model.train()
    for epoch in range(5):
        for data, target in dataloader:
            data, target = data.to(device, non_blocking=True), target.to(device, non_blocking=True)
            loss = loss_fn(model(data), target)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    model.eval()
    correct = 0
    with torch.no_grad():
        for data, target in dataloader:
            pred = model(data.to(device))
            _, predicted = torch.max(pred.data, 1)
            correct += (predicted == target.to(device)).type(torch.float).sum().item()
            probs = torch.softmax(pred, dim=1)
            assert torch.allclose(probs.sum(dim=1), torch.ones(len(target), device=device), atol=1e-5)
            top = torch.topk(probs, 2)
            assert torch.equal(top.indices[:, 0], torch.argmax(probs, dim=1))
    assert correct / len(x) > 0.5
    onehot = F.one_hot(torch.tensor([0, 2]), num_classes=3).float()
    assert onehot.dtype == torch.float32 and torch.isnan(onehot).any().item() is False


def _message(fn):
    with pytest.raises(AttributeError) as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize("fn, expected", [
    (lambda: mt.rellu, "module 'minitorch' has no attribute 'rellu'; did you mean 'relu'?"),
    (lambda: mt.cuda.is_avaliable, "did you mean 'is_available'?"),
    (lambda: mt.nn.Linaer, "module 'minitorch.nn' has no attribute 'Linaer'; did you mean 'Linear'?"),
    (lambda: mt.nn.CrossEntropyLos, "did you mean 'CrossEntropyLoss'?"),
    (lambda: F.cross_entropi, "module 'minitorch.nn.functional' has no attribute 'cross_entropi'; did you mean "
                              "'cross_entropy'?"),
    (lambda: mt.optim.SDG, "module 'minitorch.optim' has no attribute 'SDG'; did you mean 'SGD'?"),
    (lambda: mt.zzzz_no_such_name, "module 'minitorch' has no attribute 'zzzz_no_such_name'"),
])
def test_attribute_errors_suggest_the_closest_name(fn, expected):
    assert expected in _message(fn)


def test_missing_names_are_still_missing():
    assert not hasattr(mt, "no_such_function") and not hasattr(mt.nn, "__wrapped__")
    from minitorch import selftest  # submodules not imported by `import minitorch` still import
    assert selftest.__name__ == "minitorch.selftest"
