"""The engine's WAL is checkpointed off the hot path and rewound once it is long, so it does not
grow with the number of orders; a read in progress is never waited for."""

from __future__ import annotations

import itertools
from pathlib import Path

from sqlalchemy import Engine, text

from persistence.db import checkpoint_wal, ensure_schema, make_engine, should_restart

_KEYS = itertools.count()


def _writer(tmp_path: Path) -> tuple[Engine, Path]:
    path = tmp_path / "orders.db"
    engine = make_engine(f"sqlite:///{path}", wal_autocheckpoint=0)
    ensure_schema(engine)
    return engine, Path(f"{path}-wal")


def _write(engine: Engine, rows: int) -> None:
    with engine.begin() as conn:
        for _ in range(rows):
            conn.execute(
                text("INSERT INTO kv_state(account, key, value) VALUES ('a', :k, :v)"),
                {"k": f"k{next(_KEYS)}", "v": "x" * 2000},
            )


def test_a_long_wal_is_rewound(tmp_path: Path) -> None:
    engine, wal = _writer(tmp_path)
    _write(engine, 200)
    size = wal.stat().st_size
    assert size > 100_000
    checkpoint_wal(engine, restart_frames=10)
    _write(engine, 200)  # written from the log's start again: the file does not grow
    assert wal.stat().st_size == size
    engine.dispose()


def test_a_short_wal_is_only_copied_back(tmp_path: Path) -> None:
    engine, wal = _writer(tmp_path)
    _write(engine, 200)
    size = wal.stat().st_size
    checkpoint_wal(engine)  # far under the default threshold: PASSIVE only
    assert wal.stat().st_size == size
    engine.dispose()


def test_the_rewind_gives_up_instead_of_waiting_for_a_reader(tmp_path: Path) -> None:
    engine, wal = _writer(tmp_path)
    _write(engine, 100)
    reader = make_engine(f"sqlite:///{tmp_path / 'orders.db'}", readonly=True)
    with reader.connect() as conn, conn.begin():
        conn.execute(text("SELECT count(*) FROM kv_state")).scalar_one()  # a snapshot held
        _write(engine, 100)
        checkpoint_wal(engine, restart_frames=10)  # returns: busy, not blocked
        _write(engine, 100)
        grown = wal.stat().st_size  # the reader still needs the log: appended
    checkpoint_wal(engine, restart_frames=10)
    _write(engine, 100)
    assert wal.stat().st_size == grown, "rewound once the reader was done"
    reader.dispose()
    engine.dispose()


def test_the_rewind_waits_for_a_turn_when_the_passive_pass_left_a_backlog() -> None:
    # a RESTART copies what PASSIVE left while the order manager's commits wait on it
    assert not should_restart(20_000, 10_000, restart_frames=16_384, left_max=256)
    assert should_restart(20_000, 19_800, restart_frames=16_384, left_max=256)
    assert should_restart(16_384, 16_384, restart_frames=16_384, left_max=256)
    assert not should_restart(16_383, 16_383, restart_frames=16_384, left_max=256)
    assert not should_restart(None, None)  # not in WAL mode
