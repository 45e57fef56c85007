"""Run the benchmarks: simulator in its own process, tier unlimited (benchmarks/BENCHMARKS.md)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["add_arguments", "run"]


def _cli() -> ModuleType:
    # benchmarks/ sits next to scripts/ in a checkout and is not installed as a package
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.append(root)
    return importlib.import_module("benchmarks.cli")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _cli().add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return int(_cli().run(args))
