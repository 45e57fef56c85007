"""kraken-router benchmarks: the engine against the bare socket and against python-kraken-sdk.

Run `python -m benchmarks [--quick] [--only NAME]` or `kraken-router bench`. The simulator runs in
its own process (tier `unlimited`); every figure is p50/p99 (or a rate) with its ratio to a floor
measured in the same run. See benchmarks/BENCHMARKS.md.
"""

from benchmarks._common import Report, Section, Sizes
from benchmarks.runner import BENCHMARKS, run_all

__all__ = ["BENCHMARKS", "Report", "Section", "Sizes", "run_all"]
