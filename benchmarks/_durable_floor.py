"""The durable floor: the bare socket plus the least any client that keeps the engine's promise
must write, on one thread, with nothing between it and `sqlite3`.

Per order, before the send: the order's row and its intent's journal entry, committed, in a
database built by the engine's own migrations (the same tables and indexes) and opened with
its pragmas (WAL, `synchronous` NORMAL). After the answer, in one transaction: the order's id
and status with the answer's journal entry, and every executions report read meanwhile (the
order's `pending_new` and `new`) journaled with its order's new status. The timed part ends
when the answer is read, as the engine's does (its caller's future resolves before the answer
is written), and the rest is written before the next order, outside the timed part.

Why this row: the issue's ratio is to a floor that persists nothing. This one says how much of
the engine's figure any durable client on this machine would pay, and so how much is the
engine's own: no book, validation, journal of the venue's reports, rate limiter, events or
threads. It is a reference, not a goal.

Its p99 is not a floor: SQLite runs a checkpoint inside the commit that fills the WAL past
1,000 pages (its default, which a plain client gets), copying the log back and syncing, a few
milliseconds every 50 orders or so. The engine runs its checkpoints on a thread of its own
(`actors.checkpointer`), which is why its p99 ratio is the smaller one.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from benchmarks._floor import RawClient
from persistence import db

__all__ = ["DurableRawClient"]

_INSERT_ORDER = (
    "INSERT INTO orders (account, cl_ord_id, symbol, side, order_type, order_qty, limit_price,"
    " params, status, cum_qty, cum_cost, fees, origin, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending_submit', '0', '0', '0', 'engine', ?, ?)"
)
_INSERT_EVENT = (
    "INSERT INTO order_events (account, order_pk, at, source, kind, status_before,"
    " status_after, req_id, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ACKNOWLEDGE = (
    "UPDATE orders SET order_id = ?, status = 'pending_new', acknowledged_at = ?, updated_at = ?"
    " WHERE id = ?"
)
_REPORTED = "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?"


def _now() -> str:
    return datetime.now(UTC).isoformat(" ", "microseconds")[:26]


class DurableRawClient(RawClient):
    """`RawClient` that commits each order's intent before sending it and records its answer."""

    def __init__(
        self, ws_url: str, rest_url: str, api_key: str, api_secret: str, database: Path
    ) -> None:
        schema = db.make_engine(f"sqlite:///{database}")
        try:
            db.ensure_schema(schema)
        finally:
            schema.dispose()
        # autocommit off: each `with self._db` is one transaction, committed on leaving
        self._db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self._db.execute(f"PRAGMA {pragma}")
        self._account = api_key[:8]
        self.orders = 0
        self._pks: dict[str, int] = {}  # order_id -> row, for the reports
        self._reports: list[str] = []  # executions frames read, not yet written
        super().__init__(ws_url, rest_url, api_key, api_secret)

    def add_order(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Intent committed, sent, answer read: the timed part. `record_answer` follows it."""
        pk = self.record_intent(fields)
        req_id = self.send_add_order(self.add_order_frame(fields))
        response = self.wait_response(req_id)
        response["_pk"] = pk
        return response

    def record_intent(self, fields: dict[str, Any]) -> int:
        now = _now()
        params = json.dumps({k: str(v) if isinstance(v, Decimal) else v
                             for k, v in fields.items()})  # fmt: skip
        cursor = self._db.cursor()
        cursor.execute("BEGIN")
        try:
            cursor.execute(_INSERT_ORDER, (
                self._account, fields.get("cl_ord_id"), fields["symbol"], fields["side"],
                fields["order_type"], str(fields["order_qty"]),
                None if fields.get("limit_price") is None else str(fields["limit_price"]),
                params, now, now,
            ))  # fmt: skip
            pk = cursor.lastrowid
            assert pk is not None
            cursor.execute(_INSERT_EVENT, (self._account, pk, now, "request", "intent", None,
                                           "pending_submit", None, params))  # fmt: skip
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        self.orders += 1
        return pk

    def wait_response(self, req_id: int) -> dict[str, Any]:
        """Read frames until the response to `req_id`, keeping the executions frames."""
        while True:
            text = cast(str, self._ws.recv())  # a text frame: the simulator sends no binary
            if '"method"' not in text:
                if '"executions"' in text:
                    self._reports.append(text)
                continue
            frame: dict[str, Any] = json.loads(text)
            if frame.get("req_id") == req_id:
                return frame

    def record_answer(self, response: dict[str, Any]) -> None:
        now = _now()
        pk = response.pop("_pk")
        order_id = (response.get("result") or {}).get("order_id")
        if order_id:
            self._pks[order_id] = pk
        frames, self._reports = self._reports, []
        cursor = self._db.cursor()
        cursor.execute("BEGIN")
        try:
            cursor.execute(_ACKNOWLEDGE, (order_id, now, now, pk))
            cursor.execute(_INSERT_EVENT, (self._account, pk, now, "acknowledgement", "ack",
                                           "pending_submit", "pending_new", response.get("req_id"),
                                           json.dumps(response)))  # fmt: skip
            for text in frames:
                for report in json.loads(text).get("data") or ():
                    report_pk = self._pks.get(report.get("order_id", ""))
                    if report_pk is None:
                        continue  # not this client's order (its answer comes before this)
                    status = report.get("order_status")
                    cursor.execute(_REPORTED, (status, now, report_pk))
                    cursor.execute(_INSERT_EVENT, (self._account, report_pk, now, "executions",
                                                   report.get("exec_type", ""), None, status,
                                                   None, json.dumps(report)))  # fmt: skip
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise

    def acknowledged(self) -> int:
        """Rows that have their Kraken order id (what the tests check)."""
        row = self._db.execute("SELECT count(*) FROM orders WHERE order_id IS NOT NULL").fetchone()
        return int(row[0])

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._db.close()


def durable_chunk(client: DurableRawClient, orders: list[dict[str, Any]]) -> list[float]:
    samples = []
    for fields in orders:
        started = time.perf_counter()
        response = client.add_order(fields)
        samples.append(time.perf_counter() - started)
        assert response.get("success"), response
        client.record_answer(response)
    return samples
