"""Copies SQLite's write-ahead log back into the database on a thread of its own.

SQLite normally checkpoints inside whichever commit crosses the threshold, so one order's commit
now and then pays for copying (and syncing) a thousand pages. The engine turns automatic
checkpoints off for its writer and runs PASSIVE checkpoints here instead: they never wait for
readers or the writer, and the order manager's commits stay short.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from persistence.db import checkpoint_wal

__all__ = ["Checkpointer"]

log = logging.getLogger("kraken_router.checkpointer")


class Checkpointer:
    def __init__(self, engine: Engine, interval: float = 0.5) -> None:
        self._engine = engine
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kraken-router-wal", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._checkpoint()  # leave the WAL short for the next reader or start

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._checkpoint()

    def _checkpoint(self) -> None:
        try:
            checkpoint_wal(self._engine)
        except Exception:  # a failed checkpoint only leaves the WAL longer; try again later
            log.warning("WAL checkpoint failed", exc_info=True)
