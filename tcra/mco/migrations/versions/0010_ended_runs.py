"""Ended runs: a placement that moved or went leaves what it ran, where, for whom, from when
to when, at what estimates, so a tenant's accounting keeps what it already used.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mco_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("workload", sa.String(63), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("site", sa.String(63), nullable=False),
        sa.Column("since", sa.Double(), nullable=False),
        sa.Column("until", sa.Double(), nullable=False),
        sa.Column("cost_per_hour", sa.Double(), nullable=False),
        sa.Column("carbon_per_hour", sa.Double(), nullable=False),
    )
    op.create_index("ix_mco_runs_tenant", "mco_runs", ["tenant"])


def downgrade() -> None:
    op.drop_table("mco_runs")
