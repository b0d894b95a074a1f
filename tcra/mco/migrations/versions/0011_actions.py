"""Actions the agent proposes for alerts, and their audit trail: who proposed, approved,
rejected or applied each, when, and what came of it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mco_actions",
        sa.Column("id", sa.String(12), primary_key=True),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("alert", sa.String(100), nullable=False),
        sa.Column("firing", sa.String(110), nullable=False),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("workload", sa.String(63), nullable=False),
        sa.Column("site", sa.String(63), nullable=False),
        sa.Column("rtt_ms", sa.Double(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=True),
    )
    op.create_index("ix_mco_actions_state", "mco_actions", ["state"])
    op.create_index("ix_mco_actions_firing", "mco_actions", ["firing"])
    op.create_table(
        "mco_action_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(12), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_mco_action_events_action", "mco_action_events", ["action"])


def downgrade() -> None:
    op.drop_table("mco_action_events")
    op.drop_table("mco_actions")
