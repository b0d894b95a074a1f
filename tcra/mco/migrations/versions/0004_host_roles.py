"""Placements record what they take; hosts record the role a service holds them in.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mco_placements") as table:  # SQLite alters by copying the table
        table.add_column(sa.Column("kind", sa.String(8), nullable=False,
                                   server_default="caf"))
        table.add_column(sa.Column("resources", sa.JSON(), nullable=True))
    op.create_table(
        "mco_host_roles",
        sa.Column("host", sa.String(253), primary_key=True),
        sa.Column("service", sa.String(63), primary_key=True),
        sa.Column("site", sa.String(63), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("workloads", sa.JSON(), nullable=False),
        sa.Column("cluster", sa.String(63), nullable=True),
    )
    op.create_index("ix_mco_host_roles_service", "mco_host_roles", ["service"])
    op.create_index("ix_mco_host_roles_site", "mco_host_roles", ["site"])


def downgrade() -> None:
    op.drop_table("mco_host_roles")
    with op.batch_alter_table("mco_placements") as table:
        table.drop_column("resources")
        table.drop_column("kind")
