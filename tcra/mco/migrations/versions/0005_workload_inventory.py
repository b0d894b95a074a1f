"""The workload inventory (TCWI): per service, who recorded it; per workload, what was made.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mco_services",
        sa.Column("service", sa.String(63), primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("owner", sa.String(512), nullable=False),
    )
    op.create_index("ix_mco_services_tenant", "mco_services", ["tenant"])
    op.create_table(
        "mco_deployed",
        sa.Column("service", sa.String(63), primary_key=True),
        sa.Column("workload", sa.String(63), primary_key=True),
        sa.Column("cluster", sa.String(63), nullable=True),
        sa.Column("release", sa.String(53), nullable=True),
        sa.Column("namespace", sa.String(63), nullable=True),
        sa.Column("vm_uuid", sa.String(36), nullable=True),
        sa.Column("host_serial", sa.String(253), nullable=True),
        sa.Column("sid", sa.String(39), nullable=True),
    )
    op.create_index("ix_mco_deployed_service", "mco_deployed", ["service"])


def downgrade() -> None:
    op.drop_table("mco_deployed")
    op.drop_table("mco_services")
