"""The `kraken-router` console command: one subcommand per operator script."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module under scripts/ exposing `add_arguments(parser)` and `run(args) -> int`,
# the first line of its docstring). The summaries are written out rather than read from the
# modules, so that `kraken-router --help` lists every command without importing any: one broken
# script never breaks the rest (tests/persistence/test_cli.py keeps the two alike).
_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "scripts.demo",
        "Run the reference scenario through the engine against the bundled Kraken simulator.",
    ),
    "run": (
        "scripts.run",
        "Run a standalone engine configured from the environment (KRAKEN_* variables).",
    ),
    "sim": (
        "scripts.sim",
        "Run the local Kraken simulator (WS v2 + REST + control API on 127.0.0.1) until Ctrl-C.",
    ),
    "status": (
        "scripts.status",
        "Show the engines recorded in the database: liveness, connection, dead man's switch, "
        "orders.",
    ),
    "shutdown": (
        "scripts.shutdown",
        "Safe shutdown of an account's engine, verified step by step (through the database).",
    ),
    "orders": (
        "scripts.orders",
        "List orders from the order database, newest first (table, --json or --csv).",
    ),
    "order": (
        "scripts.order",
        "Show one order's timeline: the order, then its events and fills in order.",
    ),
    "fills": (
        "scripts.fills",
        "List fills from the order database, newest first (table, --json or --csv).",
    ),
    "db": (
        "scripts.db",
        "Manage the order database schema: db upgrade [REV] | downgrade REV | current | check.",
    ),
    "bench": (
        "scripts.bench",
        "Run the benchmarks: simulator in its own process, tier unlimited "
        "(benchmarks/BENCHMARKS.md).",
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    requested = next((a for a in argv if not a.startswith("-")), None)
    parser = argparse.ArgumentParser(
        prog="kraken-router",
        description=__doc__,
        epilog="`kraken-router COMMAND --help` shows a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = None
    for name, (module_name, summary) in _SUBCOMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary)
        if name == requested:
            # only the chosen subcommand is imported
            chosen = importlib.import_module(module_name)
            chosen.add_arguments(command)
    args = parser.parse_args(argv)
    assert chosen is not None
    return int(chosen.run(args))


if __name__ == "__main__":
    sys.exit(main())
