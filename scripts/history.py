"""Order history from the engine's database: `orders`, `order ID` and `fills`.

Each command reads through `persistence.history` and prints a readable table, or with `--json`
one JSON document (Kraken's field names, numbers as exact decimal strings), or with `--csv` a
header row and one row per record. Nothing here writes to the database, so it is safe to run
while an engine is trading.

Exit status: 0 on success, 1 when `order ID` finds nothing, 2 for a bad argument or a database
that cannot be read.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from engine.errors import DatabaseError
from persistence.db import DEFAULT_URL
from persistence.history import FILL_JSON_KEYS, ORDER_JSON_KEYS, History

__all__ = [
    "add_db_argument",
    "add_fills_arguments",
    "add_order_arguments",
    "add_orders_arguments",
    "database_url",
    "main",
    "run_fills",
    "run_order",
    "run_orders",
]

_ORDER_TABLE = (
    ("id", "id"),
    ("created_at", "created_at"),
    ("symbol", "symbol"),
    ("side", "side"),
    ("type", "order_type"),
    ("qty", "order_qty"),
    ("price", "limit_price"),
    ("status", "status"),
    ("filled", "cum_qty"),
    ("avg_price", "avg_price"),
    ("order_id", "order_id"),
    ("cl_ord_id", "cl_ord_id"),
)
_FILL_TABLE = (
    ("timestamp", "timestamp"),
    ("symbol", "symbol"),
    ("side", "side"),
    ("qty", "last_qty"),
    ("price", "last_price"),
    ("cost", "cost"),
    ("fee", "fee"),
    ("liq", "liquidity_ind"),
    ("order_id", "order_id"),
    ("exec_id", "exec_id"),
)


def database_url(explicit: str | None) -> str:
    """`--db`, else `KRAKEN_DATABASE_URL`, else the default SQLite file in the current directory."""
    return explicit or os.environ.get("KRAKEN_DATABASE_URL") or DEFAULT_URL


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """The `--db URL` option every database command takes."""
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help=f"database URL (default: $KRAKEN_DATABASE_URL, else {DEFAULT_URL})",
    )


def _add_format(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="one JSON document on stdout")
    group.add_argument("--csv", action="store_true", help="CSV with a header row")


def _when(text: str) -> datetime:
    """`2024-05-01`, `2024-05-01T12:00`, `...Z` or `...+02:00`; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date or time: {text!r}") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def add_orders_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `kraken-router orders`."""
    add_db_argument(parser)
    parser.add_argument(
        "--status",
        action="append",
        metavar="WORD",
        help="open (every live status), pending_submit, submitted, new, filled, canceled, ...; "
        "repeat or comma-separate for several",
    )
    parser.add_argument("--symbol", help="e.g. BTC/USD")
    parser.add_argument("--side", choices=("buy", "sell"))
    parser.add_argument("--since", type=_when, metavar="DATE", help="created at or after (UTC)")
    parser.add_argument("--until", type=_when, metavar="DATE", help="created before (UTC)")
    parser.add_argument("--cl-ord-id", dest="cl_ord_id", metavar="ID")
    parser.add_argument("--userref", type=int, metavar="N", help="order_userref")
    parser.add_argument("--account", help="only this account")
    parser.add_argument("--limit", type=int, metavar="N", help="the newest N orders")
    _add_format(parser)


def add_order_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `kraken-router order ID`."""
    add_db_argument(parser)
    parser.add_argument("key", metavar="ID", help="our order id, Kraken order_id, or cl_ord_id")
    parser.add_argument("--account", help="only this account")
    _add_format(parser)


def add_fills_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `kraken-router fills`."""
    add_db_argument(parser)
    parser.add_argument("--symbol", help="e.g. BTC/USD")
    parser.add_argument("--since", type=_when, metavar="DATE", help="at or after (UTC)")
    parser.add_argument("--until", type=_when, metavar="DATE", help="before (UTC)")
    parser.add_argument("--order-id", dest="order_id", metavar="ID", help="Kraken order_id")
    parser.add_argument("--account", help="only this account")
    parser.add_argument("--limit", type=int, metavar="N", help="the newest N fills")
    _add_format(parser)


def run_orders(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the orders matching the filters, newest first."""

    def query(history: History) -> int:
        statuses = [w.strip() for s in args.status or () for w in s.split(",") if w.strip()]
        orders = history.orders(
            status=statuses or None,
            symbol=args.symbol,
            side=args.side,
            since=args.since,
            until=args.until,
            cl_ord_id=args.cl_ord_id,
            order_userref=args.userref,
            account=args.account,
            limit=args.limit,
        )
        rows = [{"id": o.id, **o.to_json_dict()} for o in orders]
        _emit(args, rows, ORDER_JSON_KEYS, _ORDER_TABLE, out or sys.stdout)
        return 0

    return _with_history(args, query)


def run_order(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print one order and, in order, what happened to it."""
    stream = out or sys.stdout

    def query(history: History) -> int:
        timeline = history.timeline(args.key, account=args.account)
        if timeline is None:
            print(f"kraken-router: no order {args.key!r}", file=sys.stderr)
            return 1
        if args.json:
            json.dump(timeline.to_json_dict(), stream, indent=2, default=_json_default)
            stream.write("\n")
            return 0
        if args.csv:
            _csv(stream, [timeline.order.to_json_dict()], ORDER_JSON_KEYS)
            return 0
        order = timeline.order
        stream.write(f"order {order.id} ({order.origin}, account {order.account})\n")
        for key, value in order.to_json_dict().items():
            if value is not None:
                stream.write(f"  {key:<14} {value}\n")
        if order.reason:
            stream.write(f"  {'reason':<14} {order.reason}\n")
        if order.replaces_id is not None:
            stream.write(f"  {'replaces':<14} {order.replaces_id}\n")
        stream.write("events:\n")
        for event in timeline.events:
            change = f"{event.status_before or '-'} -> {event.status_after or '-'}"
            req = f" req_id={event.req_id}" if event.req_id is not None else ""
            stream.write(
                f"  {_text(event.at)}  {event.source:<15} {event.kind:<16} {change}{req}\n"
            )
        stream.write("fills:\n")
        for fill in timeline.fills:
            f = fill.to_json_dict()
            stream.write(
                f"  {f['timestamp']}  {f['last_qty']} @ {f['last_price']}  fee {f['fee']}"
                f" {f['fee_asset'] or ''}  exec_id {f['exec_id']}\n"
            )
        return 0

    return _with_history(args, query)


def run_fills(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the fills matching the filters, newest first."""

    def query(history: History) -> int:
        fills = history.fills(
            symbol=args.symbol,
            since=args.since,
            until=args.until,
            order_id=args.order_id,
            account=args.account,
            limit=args.limit,
        )
        rows = [f.to_json_dict() for f in fills]
        _emit(args, rows, FILL_JSON_KEYS, _FILL_TABLE, out or sys.stdout)
        return 0

    return _with_history(args, query)


def _with_history(args: argparse.Namespace, query: Callable[[History], int]) -> int:
    try:
        with History(database_url(args.db)) as history:
            return query(history)
    except DatabaseError as exc:
        print(f"kraken-router: error: {exc}", file=sys.stderr)
        return 2


def _emit(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
    table: Sequence[tuple[str, str]],
    out: TextIO,
) -> None:
    if args.json:
        json.dump([{k: row[k] for k in keys} for row in rows], out, indent=2)
        out.write("\n")
    elif args.csv:
        _csv(out, rows, keys)
    else:
        _table(out, rows, table)


def _csv(out: TextIO, rows: Iterable[dict[str, Any]], keys: Sequence[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=list(keys), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else row[k] for k in keys})


def _table(out: TextIO, rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    cells = [[("" if row[key] is None else str(row[key])) for _, key in columns] for row in rows]
    widths = [
        max([len(title)] + [len(r[i]) for r in cells]) for i, (title, _) in enumerate(columns)
    ]
    out.write("  ".join(t.ljust(w) for (t, _), w in zip(columns, widths, strict=True)).rstrip())
    out.write("\n")
    for r in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    out.write(f"({len(rows)} {'row' if len(rows) == 1 else 'rows'})\n")


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_default(value: Any) -> Any:
    # raw frames keep Decimals: print them as exact strings
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m scripts.history orders|order|fills ...` without the `kraken-router` wrapper."""
    parser = argparse.ArgumentParser(prog="kraken-router", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_orders_arguments(sub.add_parser("orders", help="list orders"))
    add_order_arguments(sub.add_parser("order", help="one order's timeline"))
    add_fills_arguments(sub.add_parser("fills", help="list fills"))
    args = parser.parse_args(argv)
    run = {"orders": run_orders, "order": run_order, "fills": run_fills}[args.command]
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
