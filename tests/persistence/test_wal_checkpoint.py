"""The engine's WAL is checkpointed off the hot path and cut back once it is long, so it does not
grow with the number of orders; a read in progress is never waited for."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from persistence.db import checkpoint_wal, ensure_schema, make_engine


def _writer(tmp_path: Path) -> tuple[Engine, Path]:
    path = tmp_path / "orders.db"
    engine = make_engine(f"sqlite:///{path}", wal_autocheckpoint=0)
    ensure_schema(engine)
    return engine, Path(f"{path}-wal")


def _write(engine: Engine, rows: int) -> None:
    with engine.begin() as conn:
        for i in range(rows):
            conn.execute(
                text("INSERT INTO kv_state(account, key, value) VALUES ('a', :k, :v)"),
                {"k": f"k{i}-{id(conn)}", "v": "x" * 2000},
            )


def test_a_long_wal_is_truncated(tmp_path: Path) -> None:
    engine, wal = _writer(tmp_path)
    _write(engine, 200)
    assert wal.stat().st_size > 100_000
    checkpoint_wal(engine, truncate_frames=10)
    assert wal.stat().st_size == 0
    engine.dispose()


def test_a_short_wal_is_only_copied_back(tmp_path: Path) -> None:
    engine, wal = _writer(tmp_path)
    _write(engine, 200)
    size = wal.stat().st_size
    checkpoint_wal(engine)  # far under the default threshold: PASSIVE only
    assert wal.stat().st_size == size
    engine.dispose()


def test_truncation_gives_up_instead_of_waiting_for_a_reader(tmp_path: Path) -> None:
    engine, wal = _writer(tmp_path)
    _write(engine, 100)
    reader = make_engine(f"sqlite:///{tmp_path / 'orders.db'}", readonly=True)
    with reader.connect() as conn, conn.begin():
        conn.execute(text("SELECT count(*) FROM kv_state")).scalar_one()  # a snapshot held
        _write(engine, 100)
        checkpoint_wal(engine, truncate_frames=10)  # returns: busy, not blocked
        assert wal.stat().st_size > 0
    checkpoint_wal(engine, truncate_frames=10)
    assert wal.stat().st_size == 0
    reader.dispose()
    engine.dispose()
