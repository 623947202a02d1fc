"""The decision log, its hash-chain heads, API keys and strategy releases.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", _TS, nullable=False))
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("roles", sa.String(128), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS))
    op.create_table(
        "strategy_versions",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("strategy_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("files", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("uploaded_by", sa.String(32), nullable=False),
        sa.Column("uploaded_at", _TS, nullable=False),
        sa.Column("approved_by", sa.String(32)),
        sa.Column("approved_at", _TS))
    op.create_table(
        "deployments",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("strategy_id", sa.String(64), primary_key=True),
        sa.Column("active_version", sa.String(64), nullable=False),
        sa.Column("candidate_version", sa.String(64)),
        sa.Column("candidate_mode", sa.String(16)),
        sa.Column("candidate_percent", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(32), nullable=False),
        sa.Column("updated_at", _TS, nullable=False))
    op.create_table(
        "release_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("strategy_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("detail", sa.Text, nullable=False))
    op.create_index("ix_release_events_strategy", "release_events", ["tenant_id", "strategy_id", "id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("strategy_id", sa.String(64), nullable=False),
        sa.Column("strategy_version", sa.String(64), nullable=False),
        sa.Column("strategy_digest", sa.String(80), nullable=False),
        sa.Column("decided_at", _TS, nullable=False),
        sa.Column("segment", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("latency_us", sa.Integer, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("tenant_id", "seq", name="uq_decisions_tenant_seq"),
        sa.UniqueConstraint("tenant_id", "request_id", name="uq_decisions_tenant_request"))
    op.create_index("ix_decisions_strategy_time", "decisions", ["tenant_id", "strategy_id", "decided_at"])
    op.create_index("ix_decisions_time", "decisions", ["tenant_id", "decided_at"])
    op.create_table(
        "chain_heads",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False))


def downgrade() -> None:
    for table in ("chain_heads", "decisions", "release_events", "deployments",
                  "strategy_versions", "api_keys", "tenants"):
        op.drop_table(table)
