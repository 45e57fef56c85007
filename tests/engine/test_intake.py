"""The intake nudges the order manager once per burst, and never leaves a command behind: a
command put after the actor cleared the flag (it does so before draining) sends a new nudge."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from actors.messages import DrainIntake, PlaceOrders
from actors.order_manager import Intake


class _Ref:
    def __init__(self) -> None:
        self.told: list[Any] = []

    def tell(self, message: Any) -> None:
        self.told.append(message)


def _command(i: int) -> PlaceOrders:
    return PlaceOrders("add_order", {"cl_ord_id": f"c{i}"}, Future())


def test_a_burst_is_nudged_once_and_a_command_after_the_drain_began_nudges_again() -> None:
    intake, ref = Intake(), _Ref()
    for i in range(3):
        intake.submit(_command(i), ref)  # type: ignore[arg-type]
    assert ref.told == [DrainIntake()]
    intake.nudged = False  # the actor, as it starts draining
    drained = [intake.get_nowait().params["cl_ord_id"] for _ in range(intake.qsize())]
    intake.submit(_command(3), ref)  # type: ignore[arg-type]
    assert drained == ["c0", "c1", "c2"]
    assert ref.told == [DrainIntake(), DrainIntake()]
    assert intake.get_nowait().params["cl_ord_id"] == "c3"
