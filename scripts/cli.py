"""The `kraken-router` console command: one subcommand per operator script."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> module under scripts/ exposing `add_arguments(parser)` and `run(args) -> int`
_SUBCOMMANDS: dict[str, str] = {
    "sim": "scripts.sim",
    "demo": "scripts.demo",
    "orders": "scripts.orders",
    "order": "scripts.order",
    "fills": "scripts.fills",
    "db": "scripts.db",
    "bench": "scripts.bench",
    "run": "scripts.run",
    "status": "scripts.status",
    "shutdown": "scripts.shutdown",
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    requested = next((a for a in argv if not a.startswith("-")), None)
    parser = argparse.ArgumentParser(prog="kraken-router", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = None
    for name, module_name in _SUBCOMMANDS.items():
        if name == requested:
            # only the chosen subcommand is imported: one broken script never breaks the rest
            chosen = importlib.import_module(module_name)
            doc = (chosen.__doc__ or "").strip().splitlines()
            chosen.add_arguments(sub.add_parser(name, help=doc[0] if doc else None))
        else:
            sub.add_parser(name)
    args = parser.parse_args(argv)
    assert chosen is not None
    return int(chosen.run(args))


if __name__ == "__main__":
    sys.exit(main())
