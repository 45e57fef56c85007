"""Makes `limits_support` importable by this directory's tests (as `chaos_support` is)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
