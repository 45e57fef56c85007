"""Orders' cl_ord_id index leads with cl_ord_id, so lookups without an account use it too.

`History.order("my-id")` and the CLI's `order`/`timeline` by cl_ord_id name no account; with
the index led by `account` they scanned the table (143 ms at 1,000,000 orders). The engine's
own lookups name both columns and are served either way; inserts cost the same.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_cl_ord_id_account", ["cl_ord_id", "account"], unique=False)
        batch_op.drop_index("ix_orders_account_cl_ord_id")


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_account_cl_ord_id", ["account", "cl_ord_id"], unique=False)
        batch_op.drop_index("ix_orders_cl_ord_id_account")
