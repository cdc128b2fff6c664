"""minitorch.device: a device name that also behaves as the string it is ("cpu", "cuda", "cuda:1")."""
from __future__ import annotations

from typing import Any


def canonical_device(device: Any) -> str:
    """Normalise a device string ("cuda:0" -> "cuda"), raising on unknown names."""
    name = str(device).strip().lower()
    if name in ("cpu", "strict", "cuda"):
        return name
    if name.startswith("cuda:") and name[5:].isdigit():
        return "cuda" if int(name[5:]) == 0 else name
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda', 'cuda:N' or 'strict'")


class device(str):  # noqa: N801  (named as torch.device)
    """A device such as device("cuda:1"): `.type` and `.index`, equal to its canonical string.

    A str subclass, so `t.device == "cpu"`, dict keys and f-strings work as with plain names.
    """

    def __new__(cls, type: Any, index: int | None = None) -> "device":  # noqa: A002
        name = str(type) if index is None else f"{type}:{index}"
        return super().__new__(cls, canonical_device(name))

    @property
    def type(self) -> str:  # noqa: A003
        """"cpu", "cuda" or "strict"."""
        return str.split(self, ":")[0]

    @property
    def index(self) -> int | None:
        """The CUDA device number (0 for "cuda"), None on the CPU."""
        if self.type != "cuda":
            return None
        return int(str.split(self, ":")[1]) if ":" in self else 0

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __reduce__(self) -> Any:
        return (device, (str(self),))
