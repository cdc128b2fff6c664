"""MultiStepLR, ExponentialLR, LambdaLR, LinearLR, OneCycleLR, SequentialLR, ReduceLROnPlateau (and the chained
forms of StepLR / CosineAnnealingLR) against PyTorch's schedulers driven identically: lr (and momentum) after every
step, chained schedulers, resume from a saved state dict mid-way, state-dict keys and the errors both raise."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of these tests (pip install -e '.[torch]')")

import minitorch as mt  # noqa: E402

STEPS = 40


def make_opt(lib, name="SGD"):
    """Two parameter groups with different lrs (the second also its own momentum / betas)."""
    p, q = lib.tensor([1.0], requires_grad=True), lib.tensor([2.0], requires_grad=True)
    if name == "SGD":
        return lib.optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.3, "momentum": 0.5}], lr=0.1, momentum=0.9)
    if name == "Adam":
        return lib.optim.Adam([{"params": [p]}, {"params": [q], "lr": 0.3, "betas": (0.8, 0.99)}], lr=0.1)
    return getattr(lib.optim, name)([{"params": [p]}, {"params": [q], "lr": 0.3}], lr=0.1)


class Halving:
    """A callable object with state: LambdaLR saves its __dict__ (and only that)."""

    def __init__(self, every: int) -> None:
        self.every = every

    def __call__(self, epoch: int) -> float:
        return 0.5 ** (epoch // self.every)


def S(lib):
    return lib.optim.lr_scheduler


# name -> (optimizer, factory(lib, opt) -> scheduler)
SCHEDULERS = {
    "StepLR": ("SGD", lambda lib, o: S(lib).StepLR(o, step_size=3, gamma=0.7)),
    "MultiStepLR": ("SGD", lambda lib, o: S(lib).MultiStepLR(o, milestones=[15, 4, 9, 9], gamma=0.3)),
    "ExponentialLR": ("SGD", lambda lib, o: S(lib).ExponentialLR(o, gamma=0.93)),
    "LinearLR": ("SGD", lambda lib, o: S(lib).LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=7)),
    "LinearLR-down": ("SGD", lambda lib, o: S(lib).LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=11)),
    "CosineAnnealingLR": ("SGD", lambda lib, o: S(lib).CosineAnnealingLR(o, T_max=6, eta_min=0.01)),
    "LambdaLR": ("SGD", lambda lib, o: S(lib).LambdaLR(o, lambda e: 1.0 / (1 + e) ** 0.5)),
    "LambdaLR-per-group": ("SGD", lambda lib, o: S(lib).LambdaLR(o, [lambda e: 0.9 ** e, Halving(5)])),
    "OneCycleLR-cos": ("SGD", lambda lib, o: S(lib).OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=STEPS)),
    "OneCycleLR-linear-adam": ("Adam", lambda lib, o: S(lib).OneCycleLR(
        o, max_lr=0.5, epochs=4, steps_per_epoch=10, anneal_strategy="linear", pct_start=0.25)),
    "OneCycleLR-three-phase": ("SGD", lambda lib, o: S(lib).OneCycleLR(
        o, max_lr=1.0, total_steps=STEPS + 5, three_phase=True, base_momentum=[0.8, 0.7], max_momentum=0.9,
        div_factor=10.0, final_div_factor=100.0)),
    "OneCycleLR-no-momentum": ("Adagrad", lambda lib, o: S(lib).OneCycleLR(
        o, max_lr=1.0, total_steps=STEPS, cycle_momentum=False)),
    "SequentialLR": ("SGD", lambda lib, o: S(lib).SequentialLR(
        o, [S(lib).LinearLR(o, start_factor=0.1, total_iters=5), S(lib).ExponentialLR(o, gamma=0.9)], milestones=[5])),
    "SequentialLR-three": ("Adam", lambda lib, o: S(lib).SequentialLR(
        o, [S(lib).ExponentialLR(o, gamma=0.8), S(lib).CosineAnnealingLR(o, T_max=4),
            S(lib).LambdaLR(o, lambda e: 1 / (e + 1))], milestones=[6, 17])),
    "SequentialLR-multistep": ("SGD", lambda lib, o: S(lib).SequentialLR(
        o, [S(lib).StepLR(o, step_size=2, gamma=0.5), S(lib).MultiStepLR(o, [3, 8], gamma=0.1)], milestones=[7])),
}
# Several schedulers on one optimizer, stepped together: the chainable forms compose.
CHAINS = {
    "Exponential+MultiStep": lambda lib, o: [S(lib).ExponentialLR(o, gamma=0.95), S(lib).MultiStepLR(o, [5, 12])],
    "Cosine+Exponential": lambda lib, o: [S(lib).CosineAnnealingLR(o, T_max=5), S(lib).ExponentialLR(o, gamma=0.9)],
    "Linear+Step": lambda lib, o: [S(lib).LinearLR(o, start_factor=0.5, total_iters=8),
                                   S(lib).StepLR(o, step_size=4, gamma=0.5)],
    "Lambda+Linear": lambda lib, o: [S(lib).LambdaLR(o, lambda e: 0.97 ** e), S(lib).LinearLR(o, total_iters=3)],
}


def state(opt):
    """Every group's lr and momentum (or beta1): what a schedule writes."""
    out = []
    for g in opt.param_groups:
        out.append(float(g["lr"]))
        if "momentum" in g:
            out.append(float(g["momentum"]))
        if "betas" in g:
            out.append(float(g["betas"][0]))
    return out


def trajectory(lib, name, steps=STEPS):
    opt_name, factory = SCHEDULERS[name]
    opt = make_opt(lib, opt_name)
    sched = factory(lib, opt)
    seq = [state(opt) + list(map(float, sched.get_last_lr()))]
    for _ in range(steps):
        opt.step()
        sched.step()
        seq.append(state(opt) + list(map(float, sched.get_last_lr())))
    return seq


@pytest.mark.parametrize("name", SCHEDULERS)
def test_trajectory_matches_torch(name):
    got, want = trajectory(mt, name), trajectory(torch, name)
    # The same formulas in the same order: equal to the last bit, not merely close.
    assert got == want


@pytest.mark.parametrize("name", CHAINS)
def test_chained_schedulers_match_torch(name):
    seqs = {}
    for lib in (mt, torch):
        opt = make_opt(lib)
        scheds = CHAINS[name](lib, opt)
        seq = []
        for _ in range(30):
            opt.step()
            for s in scheds:
                s.step()
            seq.append(state(opt) + [float(v) for s in scheds for v in s.get_last_lr()])
        seqs[lib.__name__] = seq
    assert seqs["minitorch"] == seqs["torch"]


@pytest.mark.parametrize("name", SCHEDULERS)
def test_resume_mid_run_equals_uninterrupted(name, tmp_path):
    """Save optimizer + scheduler state after 13 steps (through mt.save/mt.load), resume in fresh objects."""
    opt_name, factory = SCHEDULERS[name]
    opt = make_opt(mt, opt_name)
    sched = factory(mt, opt)
    for _ in range(13):
        opt.step()
        sched.step()
    mt.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "ckpt.npz")
    ckpt = mt.load(tmp_path / "ckpt.npz")
    opt2 = make_opt(mt, opt_name)
    sched2 = factory(mt, opt2)  # constructed fresh (its first step changes the lrs) ...
    opt2.load_state_dict(ckpt["opt"])  # ... then both restored, the order PyTorch documents
    sched2.load_state_dict(ckpt["sched"])
    rest = []
    for _ in range(STEPS - 13):
        opt2.step()
        sched2.step()
        rest.append(state(opt2) + list(map(float, sched2.get_last_lr())))
    assert rest == trajectory(torch, name)[14:]


def test_state_dict_keys_match_torch():
    for name in SCHEDULERS:
        sds = [SCHEDULERS[name][1](lib, make_opt(lib, SCHEDULERS[name][0])).state_dict() for lib in (mt, torch)]
        # _get_lr_called_within_step only steers a warning PyTorch gives when get_lr() is called directly.
        assert set(sds[0]) == set(sds[1]) - {"_get_lr_called_within_step"}, name
        if name.startswith("SequentialLR"):
            for a, b in zip(sds[0]["_schedulers"], sds[1]["_schedulers"]):
                assert set(a) == set(b) - {"_get_lr_called_within_step"}, name


def test_lambda_lr_state_dict_saves_callable_objects_only():
    opt = make_opt(mt)
    fn = Halving(5)
    sched = mt.optim.lr_scheduler.LambdaLR(opt, [lambda e: 1.0, fn])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, {"every": 5}]
    fn.every = 2
    sched.load_state_dict(sd)
    assert fn.every == 5  # the object's attributes come back
    tsd = torch.optim.lr_scheduler.LambdaLR(make_opt(torch), [lambda e: 1.0, Halving(5)]).state_dict()
    assert tsd["lr_lambdas"] == sd["lr_lambdas"]


METRICS = [5.0, 4.0, 4.0, 3.9999, 4.1, 4.2, 3.0, 3.0, 3.0, 3.0, 3.0, 2.0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 1.0, 1.0,
           1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
PLATEAU = {
    "defaults": dict(patience=2),
    "max-abs-cooldown": dict(mode="max", threshold=0.5, threshold_mode="abs", cooldown=2, patience=1, factor=0.5),
    "min-abs-min_lr-list": dict(threshold=0.2, threshold_mode="abs", patience=0, factor=0.5, min_lr=[0.02, 0.1]),
    "rel-eps": dict(patience=1, factor=0.9, eps=0.005, min_lr=0.05),
    "max-rel": dict(mode="max", patience=0, factor=0.7, threshold=0.1),
}


def plateau_lrs(lib, kw, metrics, sched=None, opt=None):
    opt = opt or make_opt(lib)
    sched = sched or lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    out = []
    for m in metrics:
        opt.step()
        sched.step(m if lib is mt else torch.tensor(m))
        out.append(state(opt) + list(map(float, sched.get_last_lr())))
    return out, opt, sched


@pytest.mark.parametrize("case", PLATEAU)
def test_reduce_lr_on_plateau_matches_torch(case, tmp_path):
    kw = PLATEAU[case]
    metrics = METRICS if "max" not in case else [-m for m in METRICS]
    want, _, _ = plateau_lrs(torch, kw, metrics)
    got, opt, sched = plateau_lrs(mt, kw, metrics[:12])
    mt.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "p.npz")
    ckpt = mt.load(tmp_path / "p.npz")
    opt2 = make_opt(mt)
    sched2 = mt.optim.lr_scheduler.ReduceLROnPlateau(opt2, **kw)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    rest, _, _ = plateau_lrs(mt, kw, metrics[12:], sched2, opt2)
    assert got + rest == want
    assert set(sched.state_dict()) == set(torch.optim.lr_scheduler.ReduceLROnPlateau(make_opt(torch)).state_dict())


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "LinearLR", "CosineAnnealingLR",
                                  "LambdaLR"])
def test_step_with_epoch_uses_the_closed_form(name):
    seqs = {}
    for lib in (mt, torch):
        opt_name, factory = SCHEDULERS[name]
        opt = make_opt(lib, opt_name)
        sched = factory(lib, opt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seqs[lib.__name__] = []
            for epoch in (3, 4, 9, 2, 20, 0):
                opt.step()
                sched.step(epoch)
                seqs[lib.__name__].append(state(opt))
    np.testing.assert_allclose(seqs["minitorch"], seqs["torch"], rtol=1e-15)


@pytest.mark.parametrize("name", ["CosineAnnealingLR", "ExponentialLR", "StepLR", "LinearLR"])
def test_constructed_with_last_epoch_resumes_like_torch(name):
    seqs = {}
    for lib in (mt, torch):
        opt_name, factory = SCHEDULERS[name]
        opt = make_opt(lib, opt_name)
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]
        sched = getattr(lib.optim.lr_scheduler, name)
        kw = {"CosineAnnealingLR": dict(T_max=6), "ExponentialLR": dict(gamma=0.9), "StepLR": dict(step_size=2),
              "LinearLR": dict(total_iters=9)}[name]
        s = sched(opt, last_epoch=4, **kw)
        seq = [state(opt)]
        for _ in range(12):
            opt.step()
            s.step()
            seq.append(state(opt))
        seqs[lib.__name__] = seq
    assert seqs["minitorch"] == seqs["torch"]


def test_one_cycle_raises_past_total_steps():
    for lib in (mt, torch):
        opt = make_opt(lib)
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
        for _ in range(3):
            opt.step()
            sched.step()
        with pytest.raises(ValueError, match="Tried to step 4 times|tried to step 4 times"):
            sched.step()


BAD = [
    ("LinearLR", "SGD", dict(start_factor=0.0)),
    ("LinearLR", "SGD", dict(start_factor=1.5)),
    ("LinearLR", "SGD", dict(end_factor=-0.1)),
    ("LambdaLR", "SGD", dict(lr_lambda=[lambda e: 1.0])),
    ("OneCycleLR", "SGD", dict(max_lr=1.0)),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, total_steps=0)),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, epochs=0, steps_per_epoch=3)),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, epochs=2, steps_per_epoch=1.5)),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, total_steps=10, pct_start=1.2)),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, total_steps=10, pct_start=1)),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, total_steps=10, anneal_strategy="exp")),
    ("OneCycleLR", "SGD", dict(max_lr=[1.0, 2.0, 3.0], total_steps=10)),
    ("OneCycleLR", "Adagrad", dict(max_lr=1.0, total_steps=10)),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, total_steps=10, base_momentum=[0.8])),
    ("ReduceLROnPlateau", "SGD", dict(factor=1.0)),
    ("ReduceLROnPlateau", "SGD", dict(mode="avg")),
    ("ReduceLROnPlateau", "SGD", dict(threshold_mode="pct")),
    ("ReduceLROnPlateau", "SGD", dict(min_lr=[0.1])),
]


@pytest.mark.parametrize("name,opt_name,kw", BAD, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BAD)])
def test_invalid_arguments_raise_like_torch(name, opt_name, kw):
    for lib in (torch, mt):
        with pytest.raises(ValueError):
            getattr(lib.optim.lr_scheduler, name)(make_opt(lib, opt_name), **kw)


def test_sequential_lr_errors_like_torch():
    for lib in (torch, mt):
        opt, other = make_opt(lib), make_opt(lib)
        sch = lib.optim.lr_scheduler
        with pytest.raises(ValueError):
            sch.SequentialLR(opt, [], milestones=[])
        with pytest.raises(ValueError):
            sch.SequentialLR(opt, [sch.ExponentialLR(opt, 0.9), sch.ExponentialLR(opt, 0.9)], milestones=[])
        with pytest.raises(ValueError):
            sch.SequentialLR(opt, [sch.ExponentialLR(opt, 0.9), sch.ExponentialLR(other, 0.9)], milestones=[3])
        with pytest.raises(ValueError):
            sch.SequentialLR(opt, [sch.ExponentialLR(opt, 0.9), sch.ReduceLROnPlateau(opt)], milestones=[3])
        with pytest.raises(TypeError):
            sch.ExponentialLR(object(), 0.9)
        with pytest.raises(KeyError):
            sch.ExponentialLR(make_opt(lib), 0.9, last_epoch=3)  # resuming needs initial_lr in the groups
