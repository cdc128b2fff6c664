"""expand, repeat, flip, chunk, split, gather, index_select, masked_fill, sort, argsort, topk, one_hot:
values, dtypes, gradients and errors compared with PyTorch, on every backend."""
import numpy as np
import pytest

import minitorch as mt
import minitorch.nn.functional as F

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
WITH_TIES = np.round(RNG.uniform(-1, 1, size=(4, 5)), 1)  # one decimal: ties to test sort stability
WITH_TIES[0, :3] = WITH_TIES[1, 1] = 0.5

# name -> (input array, case(x, T)), where T(data) makes an index/mask tensor of the same library.
CASES = {
    "expand": (RNG.normal(size=(3, 1)), lambda x, T: x.expand(2, 3, 4)),
    "expand_tuple_keep": (RNG.normal(size=(3, 1)), lambda x, T: x.expand((-1, 5))),
    "expand_0d": (np.array(1.5), lambda x, T: x.expand(2, 2)),
    "expand_as": (RNG.normal(size=(1, 4)), lambda x, T: x.expand_as(T(np.zeros((3, 4))))),
    "repeat": (RNG.normal(size=(2, 3)), lambda x, T: x.repeat(2, 1, 3)),
    "repeat_tuple": (RNG.normal(size=(2,)), lambda x, T: x.repeat((3, 2))),
    "repeat_zero": (RNG.normal(size=(2, 3)), lambda x, T: x.repeat(0, 2)),
    "flip": (RNG.normal(size=(2, 3, 4)), lambda x, T: x.flip((0, 2))),
    "flip_neg": (RNG.normal(size=(2, 3)), lambda x, T: x.flip(-1)),
    "chunk": (RNG.normal(size=(7, 3)), lambda x, T: x.chunk(3)),
    "chunk_fewer": (RNG.normal(size=(6, 2)), lambda x, T: x.chunk(4)),
    "chunk_dim1": (RNG.normal(size=(2, 5)), lambda x, T: x.chunk(2, dim=1)),
    "split": (RNG.normal(size=(7, 3)), lambda x, T: x.split(3)),
    "split_sections": (RNG.normal(size=(7, 3)), lambda x, T: x.split([2, 0, 5])),
    "split_dim": (RNG.normal(size=(2, 5)), lambda x, T: x.split(2, dim=-1)),
    "gather": (RNG.normal(size=(3, 4)), lambda x, T: x.gather(1, T([[0, 0], [3, 1], [2, 2]]))),
    "gather_dim0_smaller": (RNG.normal(size=(3, 4)), lambda x, T: x.gather(0, T([[2, 1, 0, 0]]))),
    "gather_int32": (RNG.normal(size=(2, 3)), lambda x, T: x.gather(-1, T(np.array([[2], [0]], np.int32)))),
    "gather_0d": (np.array(2.0), lambda x, T: x.gather(0, T(0))),
    "gather_1d_0d_index": (RNG.normal(size=(3,)), lambda x, T: x.gather(0, T(2))),
    "index_select": (RNG.normal(size=(3, 4)), lambda x, T: x.index_select(1, T([3, 0, 3]))),
    "index_select_0d_index": (RNG.normal(size=(3, 4)), lambda x, T: x.index_select(0, T(1))),
    "index_select_empty": (RNG.normal(size=(3, 4)), lambda x, T: x.index_select(0, T(np.zeros(0, np.int64)))),
    "masked_fill": (RNG.normal(size=(3, 4)),
                    lambda x, T: x.masked_fill(T(np.arange(12).reshape(3, 4) % 3 == 0), 0.5)),
    "masked_fill_broadcast_mask": (RNG.normal(size=(3, 4)),
                                   lambda x, T: x.masked_fill(T([True, False, False, True]), -2)),
    "masked_fill_mask_widens": (RNG.normal(size=(4,)), lambda x, T: x.masked_fill(T([[True], [False]]), 1.0)),
    "masked_fill_inf": (RNG.normal(size=(2, 3)), lambda x, T: x.masked_fill(T([[True, False, True]]), float("-inf"))),
    "sort": (WITH_TIES, lambda x, T: x.sort()),
    "sort_dim0_desc": (WITH_TIES, lambda x, T: x.sort(dim=0, descending=True)),
    "sort_0d": (np.array(3.0), lambda x, T: x.sort()),
    "argsort": (WITH_TIES, lambda x, T: x.argsort(dim=1, descending=True)),
    # topk: PyTorch's order among tied values is unspecified (see test_topk_ties_are_stable), so no ties here.
    "topk": (RNG.normal(size=(4, 5)), lambda x, T: x.topk(2)),
    "topk_smallest_dim0": (RNG.normal(size=(4, 5)), lambda x, T: x.topk(3, dim=0, largest=False)),
    "topk_all": (RNG.normal(size=(4, 5)), lambda x, T: x.topk(5, dim=1)),
    "topk_zero": (RNG.normal(size=(4, 5)), lambda x, T: x.topk(0)),
    "topk_0d": (np.array(3.0), lambda x, T: x.topk(1)),
}


def _run(lib, device, x_np, case):
    """Values (as NumPy), dtypes and the input's gradient for one case in one library."""
    if lib is mt:
        T = lambda d: mt.tensor(d, device=device)  # noqa: E731
        x = mt.tensor(x_np, device=device, requires_grad=True)
    else:
        T = torch.tensor
        x = torch.tensor(x_np, requires_grad=True)
    out = case(x, T)
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    total = None
    for i, o in enumerate(outs):
        if o.requires_grad:
            weights = np.arange(1, o.numel() + 1, dtype=np.float64).reshape(o.shape) * (i + 1)
            term = (o * T(weights)).sum()
            total = term if total is None else total + term
    if total is not None:
        total.backward()
    host = lambda t: np.asarray(t.detach().cpu().numpy() if lib is torch else t.detach().numpy())  # noqa: E731
    grad = None if x.grad is None else host(x.grad)
    return [host(o) for o in outs], [str(o.dtype).rsplit(".", 1)[-1] for o in outs], grad


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(device, name):
    x_np, case = CASES[name]
    values, dtypes, grad = _run(mt, device, x_np, case)
    t_values, t_dtypes, t_grad = _run(torch, None, x_np, case)
    assert dtypes == t_dtypes
    assert len(values) == len(t_values)
    for v, tv in zip(values, t_values):
        assert v.shape == tv.shape
        np.testing.assert_allclose(v, tv, rtol=1e-12)
    if t_grad is None:
        assert grad is None
    else:
        np.testing.assert_allclose(grad, t_grad, rtol=1e-12)


def test_sort_nan_is_largest_and_bools_sort(device):
    x = [1.0, float("nan"), 0.0, 2.0]
    for descending in (False, True):
        ours = mt.tensor(x, device=device).sort(descending=descending)
        theirs = torch.tensor(x).sort(descending=descending)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    b = [True, False, True, False]
    assert mt.tensor(b, device=device).sort().indices.tolist() == torch.tensor(b).sort().indices.tolist()
    assert mt.tensor(b, device=device).sort().values.dtype == mt.bool


def test_topk_ties_are_stable(device):
    """Among equal values the lower index comes first (PyTorch leaves that order unspecified)."""
    x = [0.5, 0.5, 0.5, 0.1, 0.7, 0.5, 0.5]
    ours, theirs = mt.tensor(x, device=device).topk(5), torch.tensor(x).topk(5)
    assert ours.values.tolist() == theirs.values.tolist()
    assert ours.indices.tolist() == [4, 0, 1, 2, 5]
    assert mt.tensor(x, device=device).topk(3, largest=False).indices.tolist() == [3, 0, 1]


def test_sort_and_topk_return_named_tuples():
    values, indices = mt.tensor([3.0, 1.0, 2.0]).topk(2)
    result = mt.tensor([3.0, 1.0, 2.0]).sort()
    assert type(result).__name__ == "sort" and result.values.tolist() == [1.0, 2.0, 3.0]
    assert values.tolist() == [3.0, 2.0] and indices.tolist() == [0, 2] and indices.dtype == mt.int64


def test_one_hot_matches_torch(device):
    for data, classes in [([0, 2, 1], -1), ([[1], [3]], 5), (1, 3), (np.zeros(0, np.int64), 4)]:
        ours = F.one_hot(mt.tensor(data, device=device), classes)
        theirs = torch.nn.functional.one_hot(torch.tensor(data), classes)
        assert ours.dtype == mt.int64 and ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


ERRORS = {
    "expand_too_few_sizes": (lambda x, T: x.expand(4)),
    "expand_non_singleton": (lambda x, T: x.expand(3, 3)),
    "expand_leading_minus_one": (lambda x, T: x.expand(-1, 2, 3)),
    "repeat_too_few": (lambda x, T: x.repeat(2)),
    "flip_repeated_dim": (lambda x, T: x.flip((0, 0))),
    "split_bad_sections": (lambda x, T: x.split([1, 3])),
    "split_zero": (lambda x, T: x.split(0)),
    "chunk_zero": (lambda x, T: x.chunk(0)),
    "gather_out_of_bounds": (lambda x, T: x.gather(1, T([[3], [0]]))),
    "gather_negative_index": (lambda x, T: x.gather(1, T([[-1], [0]]))),
    "gather_float_index": (lambda x, T: x.gather(1, T([[0.0], [1.0]]))),
    "gather_ndim_mismatch": (lambda x, T: x.gather(1, T([0, 1]))),
    "gather_index_too_large": (lambda x, T: x.gather(1, T([[0], [1], [1]]))),
    "gather_bad_dim": (lambda x, T: x.gather(2, T([[0], [1]]))),
    "index_select_2d_index": (lambda x, T: x.index_select(0, T([[0]]))),
    "index_select_out_of_bounds": (lambda x, T: x.index_select(1, T([3]))),
    "masked_fill_int_mask": (lambda x, T: x.masked_fill(T([[1, 0, 1], [0, 0, 0]]), 0.0)),
    "masked_fill_1d_value": (lambda x, T: x.masked_fill(T([True, False, True]), T([1.0, 2.0, 3.0]))),
    "topk_k_too_large": (lambda x, T: x.topk(4)),
    "sort_bad_dim": (lambda x, T: x.sort(dim=2)),
    "one_hot_int32": (lambda x, T: (F if isinstance(x, mt.Tensor) else torch.nn.functional).one_hot(
        T(np.array([0, 1], np.int32)), 3)),
    "one_hot_too_large": (lambda x, T: (F if isinstance(x, mt.Tensor) else torch.nn.functional).one_hot(
        T([0, 3]), 3)),
    "one_hot_negative": (lambda x, T: (F if isinstance(x, mt.Tensor) else torch.nn.functional).one_hot(
        T([-1, 0]), 3)),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_raises_like_torch(device, name):
    case = ERRORS[name]
    x_np = np.arange(6.0).reshape(2, 3)
    with pytest.raises(Exception) as theirs:
        case(torch.tensor(x_np), torch.tensor)
    with pytest.raises(Exception) as ours:
        case(mt.tensor(x_np, device=device), lambda d: mt.tensor(d, device=device))
    assert ours.type is theirs.type, (ours.value, theirs.value)


def test_expand_and_split_are_views_sharing_the_version_counter():
    a = mt.tensor([[1.0], [2.0]])
    e, (s0, s1) = a.expand(2, 3), a.split(1)
    with mt.no_grad():
        a.add_(10)
    assert e.tolist() == [[11.0] * 3, [12.0] * 3] and s1.tolist() == [[12.0]]
    assert e._version == s0._version == a._version == 1


def test_flip_copies():
    a = mt.tensor([1.0, 2.0, 3.0])
    f = a.flip(0)
    f[0] = 100.0
    assert a.tolist() == [1.0, 2.0, 3.0] and f._version != a._version


def test_masked_fill_keeps_dtype_and_returns_a_new_tensor(device):
    x = mt.tensor([1, 2, 3], device=device)
    out = mt.ops.masked_fill(x, mt.tensor([True, False, True], device=device), 2.7)
    assert out is not x and x.tolist() == [1, 2, 3]
    assert out.dtype == mt.int64 and out.tolist() == torch.tensor([1, 2, 3]).masked_fill(
        torch.tensor([True, False, True]), 2.7).tolist()


def test_masked_fill_value_tensor_gets_its_gradient():
    for lib in (mt, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        v = lib.tensor(0.5, requires_grad=True)
        (x.masked_fill(x > 0, v) * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        assert v.grad.item() == 4.0 and x.grad.tolist() == [0.0, 2.0, 0.0]


def test_in_place_masked_fill_matches_torch():
    results = []
    for lib in (mt, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = x * 2
        z = y.masked_fill_(y > 0, 0.0)
        assert z is y
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        results.append((y.tolist(), x.grad.tolist()))
    assert results[0] == results[1]


def test_gather_index_modified_in_place_is_detected():
    x = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    index = mt.tensor([[1], [0]])
    y = x.gather(1, index).sum()
    index[0, 0] = 0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_topk_of_large_input_with_small_k():
    x = np.random.default_rng(1).normal(size=(64, 1000))
    ours = mt.tensor(x).topk(5, dim=1)
    theirs = torch.tensor(x).topk(5, dim=1)
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())


def test_topk_refuses_bools_as_torch_does():
    with pytest.raises(RuntimeError, match="topk does not support bool"):
        mt.tensor([True, False]).topk(1)


@pytest.mark.parametrize("key", [slice(1, 10), slice(-10, 2), slice(7, 9), slice(10, None, -1), slice(3, -10, -2),
                                 (None, slice(1, 10), None), (Ellipsis, slice(2, 99)), (slice(None), None)])
def test_slices_past_the_end_and_new_axes_match_torch(device, key):
    x_np = np.arange(10.0).reshape(2, 5)
    if isinstance(key, slice) and key.step is not None and key.step < 0:
        x_np = x_np[0]  # torch has no negative steps: compare with NumPy on a vector
        expected = x_np[key]
        grad = np.zeros_like(x_np)
        grad[key] = 1.0
    else:
        t = torch.tensor(x_np, requires_grad=True)
        t[key].sum().backward()
        expected, grad = t[key].detach().numpy(), t.grad.numpy()
    x = mt.tensor(x_np, device=device, requires_grad=True)
    out = x[key]
    out.sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), expected)
    np.testing.assert_array_equal(x.grad.numpy(), grad)
    if isinstance(key, tuple) and None in key:
        return  # writes through keys with new axes are not supported on every backend
    y = mt.tensor(x_np, device=device)
    y[key] = -1.0  # writes take the same clipped slices
    ref = x_np.copy()
    ref[key] = -1.0
    np.testing.assert_array_equal(y.numpy(), ref)


def test_cat_and_stack_errors_and_promotion_match_torch(device):
    cases = [
        lambda T, lib: lib.cat([T([1.0]), T(np.array([2], np.int64))]),
        lambda T, lib: lib.cat([T(np.ones((2, 3), np.float32)), T(np.ones((1, 3)))]),
        lambda T, lib: lib.cat([T(np.ones((2, 3))), T(np.zeros(0))]),
        lambda T, lib: lib.stack([T(np.ones(2, np.float32)), T(np.array([1, 2]))], dim=-1),
        lambda T, lib: lib.cat([T(1.0), T(2.0)]),
        lambda T, lib: lib.cat([]),
        lambda T, lib: lib.cat([T(np.ones((2, 3))), T(np.ones(2))]),
        lambda T, lib: lib.cat([T(np.ones((2, 3))), T(np.ones((3, 3)))], 1),
        lambda T, lib: lib.stack([T(np.ones(2)), T(np.ones(3))]),
        lambda T, lib: lib.stack([]),
        lambda T, lib: lib.stack([T(np.ones(2))], dim=2),
        lambda T, lib: T(1.0).transpose(0, 1),
        lambda T, lib: T(1.0).transpose(0, -1),
    ]
    for case in cases:
        try:
            theirs, their_error = case(torch.tensor, torch), None
        except Exception as exc:  # noqa: BLE001
            their_error = type(exc)
        if their_error is not None:
            with pytest.raises(their_error):
                case(lambda d: mt.tensor(d, device=device), mt)
            continue
        ours = case(lambda d: mt.tensor(d, device=device), mt)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
