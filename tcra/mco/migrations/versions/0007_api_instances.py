"""The northbound API's app instances: where each runs, its status, its Pulumi stack.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_instances",
        sa.Column("instance_id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(256), nullable=False),
        sa.Column("app_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("zone_id", sa.String(36), nullable=False),
        sa.Column("site", sa.String(63), nullable=False),
        sa.Column("placement", sa.JSON, nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(2048), nullable=True),
        sa.Column("endpoints", sa.JSON, nullable=False),
        sa.Column("sink", sa.JSON, nullable=True),
        sa.Column("deployment_id", sa.String(36), nullable=True),
        sa.Column("stack", sa.String(128), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("changed_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("tenant", "name"),
    )
    op.create_index("ix_api_instances_tenant", "api_instances", ["tenant"])
    op.create_index("ix_api_instances_app_id", "api_instances", ["app_id"])
    op.create_index("ix_api_instances_deployment_id", "api_instances", ["deployment_id"])


def downgrade() -> None:
    op.drop_table("api_instances")
