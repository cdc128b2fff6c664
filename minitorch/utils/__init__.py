"""minitorch.utils: `minitorch.utils.data` is `minitorch.data` (the same module, so the same classes),
for code written as `from torch.utils.data import DataLoader, TensorDataset`."""
from __future__ import annotations

import sys

from .. import data
from ..data import dataset, loader

# Registered under both names, so `import minitorch.utils.data` (and its submodules, including
# PyTorch's name `dataloader`) finds these modules instead of importing second copies.
for _name, _module in {"data": data, "data.dataset": dataset, "data.dataloader": loader,
                       "data.loader": loader}.items():
    sys.modules.setdefault(f"{__name__}.{_name}", _module)

__all__ = ["data"]
