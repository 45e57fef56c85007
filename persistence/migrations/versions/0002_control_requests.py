"""Operator control requests (safe shutdown through the database).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.types

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "control_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("requested_at", persistence.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("finished_at", persistence.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('shutdown')", name=op.f("ck_control_requests_kind")),
        sa.CheckConstraint(
            "state IN ('requested', 'accepted', 'done', 'failed')",
            name=op.f("ck_control_requests_state"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["engine_runs.id"],
            name=op.f("fk_control_requests_run_id_engine_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_requests")),
    )
    with op.batch_alter_table("control_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_control_requests_account_state", ["account", "state"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("control_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_control_requests_account_state")
    op.drop_table("control_requests")
