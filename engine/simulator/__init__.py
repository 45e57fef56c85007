"""A local Kraken Spot exchange: WebSocket v2 + REST on 127.0.0.1, with ground truth and faults.

The engine's tests, the demo and the benchmarks run against it; a public client
(python-kraken-sdk) works against it unchanged.
"""

from engine.simulator.control import SimulatorControl
from engine.simulator.exchange import Exchange
from engine.simulator.model import Behaviour
from engine.simulator.server import Simulator

__all__ = ["Behaviour", "Exchange", "Simulator", "SimulatorControl"]
