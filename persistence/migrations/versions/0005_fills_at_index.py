"""Fills are indexed by time alone, for the newest fills whatever their symbol.

`History.fills` returns the newest fills first. With a symbol, `(account, symbol, at)` serves
that order; without one (`kraken-router fills`, `fills(since=...)`, `fills(account=...)`), SQLite
read every fill and sorted them: 260-340 ms for the newest 50 of 250,000 fills. With this index
it walks them newest first and stops at the limit (0.3 ms). A fill's `at` only grows, so each
new entry lands on the index's last page. It is one more B-tree per fill all the same: about 9%
off the executions benchmark's apply path (100,000 updates over 500 orders: 14,259 and 12,486
updates/s without it, 11,797 and 12,483 with it, interleaved). Kraken's rate limits hold one
account to a few orders a second sustained, so even many trades per order stay far below
that rate, while a fills query that takes a third of a second is what an operator notices.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 20:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.create_index("ix_fills_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_index("ix_fills_at")
