"""Records the names minitorch's code reads from its array namespace while it runs: every `xp.<name>`,
`xp.linalg.<name>` (`fft`, `random`) and `getattr(xp, name)`, whether `xp` came from a Backend, from
`ctx.xp`, `self.xp` or `array.__array_namespace__()`. tests/xp_names.txt holds the names a run of the suite
recorded; tests/test_cupy_namespace.py checks each exists on the real CuPy. Re-record with

    PYTHONPATH=tests python -m pytest -p xp_recorder --record-xp-names=tests/xp_names.txt -m "not slow" tests

How: while recording, NumPy's and array_api_strict's modules get a module class whose attribute lookup,
when the reading code is minitorch's, looks at the bytecode that made it: the object the attribute is read
from must have been loaded under the name `xp` (a local, a global or an attribute called `xp`). So host-side
NumPy (`np.float32(...)` in a launcher, `np.frombuffer` in staging) is not recorded, and neither is an `xp`
passed under another name (keep the house spelling).
"""
from __future__ import annotations

import contextlib
import dis
import importlib
import sys
import types
from pathlib import Path
from typing import Iterator

NAMESPACES = ("numpy", "array_api_strict")
SUBMODULES = ("linalg", "fft", "random")
_ATTRIBUTE_OPS = {"LOAD_ATTR", "LOAD_METHOD"}
# A call's instruction: CALL (3.11+), or PRECALL where 3.11 specialised it to make the call itself; 3.10's.
_CALL_OPS = {"CALL", "PRECALL", "CALL_FUNCTION"}

_recorded: set[str] | None = None
_decided: dict[tuple, str | None] = {}  # (code, instruction offset, name) -> the name to record, or None


def _loads_xp(ins: dis.Instruction) -> bool:
    """Whether an instruction loads a value called `xp` (LOAD_FAST xp, LOAD_ATTR xp, LOAD_FAST_LOAD_FAST (.., xp))."""
    name = ins.argval[-1] if isinstance(ins.argval, tuple) else ins.argval
    return ins.opname.startswith("LOAD_") and name == "xp"


def _getattr_of_xp(instructions: list[dis.Instruction], at: int) -> bool:
    """Whether the call at `at` is getattr(xp, name) with two arguments (with a default the name is optional)."""
    if instructions[at].opname not in _CALL_OPS or instructions[at].argval != 2:
        return False
    for k in range(at - 1, -1, -1):  # back to the callable: the nearest getattr loaded
        ins = instructions[k]
        if ins.opname.startswith("LOAD_") and ins.argval == "getattr":
            following = [i for i in instructions[k + 1:at] if i.opname != "PUSH_NULL"][:2]
            return any(_loads_xp(i) for i in following[:1]) or (  # getattr(xp, ...) or getattr(ctx.xp, ...)
                len(following) == 2 and following[1].opname == "LOAD_ATTR" and _loads_xp(following[1]))
    return False


def _decide(code: types.CodeType, offset: int, name: str) -> str | None:
    instructions = [i for i in dis.get_instructions(code) if i.opname not in ("EXTENDED_ARG", "CACHE")]
    at = next((k for k, i in enumerate(instructions) if i.offset == offset), None)
    if at is None or at < 1:
        return None
    if _getattr_of_xp(instructions, at):
        return name
    if instructions[at].opname not in _ATTRIBUTE_OPS or instructions[at].argval != name:
        return None  # hasattr(), getattr() with a default, an import, or bytecode this reader does not know
    before = instructions[at - 1]
    if _loads_xp(before):
        return name
    if (before.opname in _ATTRIBUTE_OPS and before.argval in SUBMODULES and at >= 2
            and _loads_xp(instructions[at - 2])):
        return f"{before.argval}.{name}"
    return None


class _Watched(types.ModuleType):
    def __getattribute__(self, name: str):
        value = types.ModuleType.__getattribute__(self, name)
        if _recorded is not None:
            frame = sys._getframe(1)
            if frame.f_globals.get("__name__", "").startswith("minitorch"):
                key = (frame.f_code, frame.f_lasti, name)
                if key not in _decided:
                    _decided[key] = _decide(frame.f_code, frame.f_lasti, name)
                if _decided[key] is not None:
                    _recorded.add(_decided[key])
        return value


def _modules() -> list[types.ModuleType]:
    found = []
    for top in NAMESPACES:
        try:
            module = importlib.import_module(top)
        except ImportError:
            continue
        found.append(module)
        found += [getattr(module, s) for s in SUBMODULES if isinstance(getattr(module, s, None), types.ModuleType)]
    return found


@contextlib.contextmanager
def recording() -> Iterator[set[str]]:
    """Record the xp names minitorch reads inside the block into the yielded set (nested: the inner block's)."""
    global _recorded
    names: set[str] = set()
    modules = [m for m in _modules() if type(m) is types.ModuleType]  # those an outer block has not watched
    for m in modules:
        m.__class__ = _Watched
    outer, _recorded = _recorded, names
    try:
        yield names
    finally:
        _recorded = outer  # a test of the recorder inside a recorded run must not end the run's recording
        for m in modules:
            m.__class__ = types.ModuleType


def read(path: Path) -> set[str]:
    """The names in a recorded file (comment lines skipped)."""
    return {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}


def write(path: Path, names: set[str], how: str) -> None:
    header = (f"# xp names minitorch read during {how}.\n"
              "# tests/test_cupy_namespace.py checks each exists on CuPy; tests/xp_recorder.py says how to re-record.\n")
    path.write_text(header + "".join(f"{n}\n" for n in sorted(names)))


# ---- the pytest plugin (loaded with -p xp_recorder) -----------------------------------------------
def pytest_addoption(parser) -> None:
    parser.addoption("--record-xp-names", metavar="PATH", default=None,
                     help="record the xp names minitorch reads during the run into PATH")


_session: contextlib.ExitStack | None = None
_names: set[str] | None = None


def pytest_configure(config) -> None:
    global _session, _names
    if config.getoption("--record-xp-names"):
        _session = contextlib.ExitStack()
        _names = _session.enter_context(recording())


def pytest_unconfigure(config) -> None:
    global _session
    if _session is None:
        return
    _session.close()
    _session = None
    args = " ".join(str(a) for a in config.invocation_params.args if not str(a).startswith("--record-xp-names"))
    write(Path(config.getoption("--record-xp-names")), _names or set(), f"pytest {args}")
