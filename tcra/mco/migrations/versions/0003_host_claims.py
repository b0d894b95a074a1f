"""Who consumes each bare-metal machine (Metal3's consumerRef, kept in the repository).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mco_host_claims",
        sa.Column("machine", sa.String(1100), primary_key=True),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("owner", sa.String(512), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mco_host_claims")
