"""Run the local Kraken simulator (WS v2 + REST + control API on 127.0.0.1) until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from types import FrameType

from engine.kraken.ratelimit import TIERS
from engine.simulator import Simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="listen port (0 = any free port)")
    parser.add_argument("--api-key", default=None, help="accepted API key (generated if omitted)")
    parser.add_argument(
        "--api-secret", default=None, help="its base64 secret (generated if omitted)"
    )
    parser.add_argument(
        "--tier", default="pro", choices=sorted(TIERS), help="rate-limit tier (default pro)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for order and trade ids")


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    sim = Simulator(
        api_key=args.api_key,
        api_secret=args.api_secret,
        host=args.host,
        port=args.port,
        tier=args.tier,
        seed=args.seed,
    )
    with sim:
        print(f"kraken-router simulator ({args.tier} tier)")
        print(f"  WebSocket v2 : {sim.ws_url}")
        print(f"  REST base    : {sim.rest_url}")
        print(f"  control API  : {sim.control_url}")
        print(f"  API key      : {sim.api_key}")
        print(f"  API secret   : {_shown_secret(args.api_secret, sim.api_secret)}")
        print("Serving until Ctrl-C / SIGTERM.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    signal.signal(signal.SIGTERM, previous)
    print("simulator stopped", flush=True)
    return 0


def _shown_secret(given: str | None, generated: str) -> str:
    """A secret passed on the command line is never echoed back (whoever passed it has it, and
    the output may be captured). One the simulator generated for itself, a local test
    credential of this process only, is shown: without it no client could sign a request."""
    return "(as given with --api-secret)" if given is not None else generated
