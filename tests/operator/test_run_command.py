"""`kraken-router run` with credentials Kraken refuses: it says so, at once, and records the run
stopped (not left `running`, which `status` would call a crash)."""

from __future__ import annotations

from collections.abc import Callable

from tests.operator.conftest import Proc, query


def test_run_with_a_refused_key_exits_2_saying_why_and_records_the_run_stopped(
    spawn: Callable[..., Proc], db_url: str
) -> None:
    proc = spawn("-m", "scripts.cli", "run", extra_env={"KRAKEN_API_KEY": "never issued"})

    assert proc.popen.wait(timeout=40) == 2
    output = proc.output()
    assert "kraken-router run: GetWebSocketsToken: Kraken refused the API credentials" in output
    assert "EAPI:Invalid key" in output
    assert query(db_url, "SELECT state, connection_state FROM engine_runs") == [
        ("stopped", "closed")
    ]
