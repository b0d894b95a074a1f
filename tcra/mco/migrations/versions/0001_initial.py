"""The resource repository (sites, clusters) and the workload inventory (placements).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mco_sites",
        sa.Column("id", sa.String(63), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("site", sa.JSON(), nullable=False),
        sa.Column("free", sa.JSON(), nullable=False),
        sa.Column("largest_host_cpu", sa.Double(), nullable=False),
        sa.Column("ptp", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.JSON(), nullable=False),
    )
    op.create_table(
        "mco_clusters",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("site", sa.String(63), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("free", sa.JSON(), nullable=False),
        sa.Column("node", sa.JSON(), nullable=False),
        sa.Column("max_nodes_to_add", sa.Integer(), nullable=False),
    )
    op.create_index("ix_mco_clusters_site", "mco_clusters", ["site"])
    op.create_index("ix_mco_clusters_kind", "mco_clusters", ["kind"])
    op.create_table(
        "mco_placements",
        sa.Column("service", sa.String(63), primary_key=True),
        sa.Column("workload", sa.String(63), primary_key=True),
        sa.Column("site", sa.String(63), nullable=False),
        sa.Column("cluster", sa.String(63), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_mco_placements_workload", "mco_placements", ["workload"])
    op.create_index("ix_mco_placements_site", "mco_placements", ["site"])
    op.create_index("ix_mco_placements_cluster", "mco_placements", ["cluster"])


def downgrade() -> None:
    op.drop_table("mco_placements")
    op.drop_table("mco_clusters")
    op.drop_table("mco_sites")
