"""The consent registry: per data subject (pseudonym), data source and purpose.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("consent_type", sa.String(16), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("granted_at", _TS, nullable=False),
        sa.Column("valid_to", _TS),
        sa.Column("revoked_at", _TS),
        sa.Column("evidence_hash", sa.String(71), nullable=False),
        sa.Column("evidence_ref", sa.String(256), nullable=False),
        sa.Column("recorded_by", sa.String(32), nullable=False),
        sa.Column("recorded_at", _TS, nullable=False))
    op.create_index("ix_consents_subject", "consents",
                    ["tenant_id", "subject", "source", "purpose"])


def downgrade() -> None:
    op.drop_index("ix_consents_subject", table_name="consents")
    op.drop_table("consents")
