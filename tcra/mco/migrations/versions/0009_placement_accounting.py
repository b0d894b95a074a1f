"""Placements keep what sensing and accounting need: the workload's latency budgets, the plan's
cost and carbon estimates, and since when it runs at its site.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mco_placements") as table:
        table.add_column(sa.Column("latency", sa.JSON(), nullable=False, server_default="[]"))
        table.add_column(sa.Column("cost_per_hour", sa.Double(), nullable=False,
                                   server_default="0"))
        table.add_column(sa.Column("carbon_per_hour", sa.Double(), nullable=False,
                                   server_default="0"))
        # seconds since the epoch; none for a placement recorded before this revision
        table.add_column(sa.Column("since", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mco_placements") as table:
        for column in ("since", "carbon_per_hour", "cost_per_hour", "latency"):
            table.drop_column(column)
