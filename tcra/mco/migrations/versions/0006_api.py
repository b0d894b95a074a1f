"""The northbound API: submitted apps and the audit trail of every request.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_apps",
        sa.Column("app_id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(256), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
        sa.Column("credentials", sa.String(2048), nullable=True),
        sa.UniqueConstraint("tenant", "name", "version"),
    )
    op.create_index("ix_api_apps_tenant", "api_apps", ["tenant"])
    op.create_table(
        "api_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("tenant", sa.String(256), nullable=True),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("correlator", sa.String(256), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_audit")
    op.drop_table("api_apps")
