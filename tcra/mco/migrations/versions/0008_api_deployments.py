"""The northbound API's app deployments (an app at several zones, one instance at each), and
the lease of the one server whose workers deploy.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_deployments",
        sa.Column("deployment_id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(256), nullable=False),
        sa.Column("app_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("zones", sa.JSON, nullable=False),
        sa.Column("cluster_refs", sa.JSON, nullable=False),
        sa.Column("sink", sa.JSON, nullable=True),
        sa.Column("deleting", sa.Boolean, nullable=False),
        sa.UniqueConstraint("tenant", "name"),
    )
    op.create_index("ix_api_deployments_tenant", "api_deployments", ["tenant"])
    op.create_index("ix_api_deployments_app_id", "api_deployments", ["app_id"])
    op.create_table(
        "api_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("api_leases")
    op.drop_table("api_deployments")
