"""The differential tests need PyTorch (an optional test dependency: pip install -e '.[torch]')."""
from __future__ import annotations

import os
import sys

# The harness modules sit beside the tests and are imported by plain name (tests/ is not a package).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
