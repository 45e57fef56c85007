"""`python -m benchmarks [--quick] [--only NAME]`."""

from __future__ import annotations

import argparse
import sys

from benchmarks.cli import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
