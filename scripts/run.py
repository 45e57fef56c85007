"""Run a standalone engine configured from the environment (KRAKEN_* variables).

The engine owns this process: SIGTERM and SIGINT run the safe shutdown (stop accepting, settle
in-flight requests, cancel all unless --keep-orders, verify over REST, disarm the dead man's
switch, close), as does `kraken-router shutdown` from anywhere that reaches the database.

Exit status: 0 when the shutdown was verified, 1 when a step failed, 2 for bad configuration.
"""

from __future__ import annotations

import argparse
import logging
import sys

from engine import Engine, EngineConfig
from engine.errors import KrakenRouterError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-orders",
        action="store_true",
        help="on SIGTERM/SIGINT leave open orders resting (the switch is still disarmed)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="shutdown time limit on a signal"
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    engine = None
    try:
        config = EngineConfig.from_env()
        engine = Engine(config)
        engine.install_signal_handlers(keep_orders=args.keep_orders, timeout=args.timeout)
        engine.start()
        engine.connect()
    except KrakenRouterError as exc:
        print(f"kraken-router run: {exc}", file=sys.stderr)
        if engine is not None:
            engine.stop()  # the run is recorded stopped, not left to look like a crash
        return 2
    print(f"RUNNING account={config.account}", flush=True)
    report = None
    while report is None:
        # short waits, so the main thread keeps running Python signal handlers
        report = engine.wait_shutdown(timeout=0.5)
    for step in report.steps:
        print(f"  [{'ok' if step.ok else 'FAILED'}] {step.name}: {step.detail}", flush=True)
    if report.ok:
        print("STOPPED cleanly", flush=True)
        return 0
    print(f"STOPPED with an unverified step: {report.error}", flush=True)
    return 1
