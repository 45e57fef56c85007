"""Command-line front end shared by `python -m benchmarks` and `kraken-router bench`."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.runner import BENCHMARKS, run_all, write_json

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_const", dest="sizes", const="quick", help="small sizes (~3 min)"
    )
    size.add_argument("--sizes", choices=("full", "quick", "tiny"), help="preset sizes")
    parser.set_defaults(sizes="full")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the simulator on one CPU, the engine's process (floors included) on the others",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="also write the report as Markdown tables")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    report = run_all(args.sizes, args.only or (), pin=args.pin)
    if args.json is not None:
        write_json(report, args.json)
    if args.markdown is not None:
        args.markdown.write_text(report.markdown() + "\n", encoding="utf-8")
    return 0
