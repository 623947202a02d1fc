"""Human-review cases: one per automated decision, opened on the customer's request and
closed by a reviewer's decision (which the decision log records).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "review_cases",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("opened_by", sa.String(32), nullable=False),
        sa.Column("opened_at", _TS, nullable=False),
        sa.Column("decided_by", sa.String(32)),
        sa.Column("decided_by_name", sa.String(128)),
        sa.Column("decided_at", _TS),
        sa.Column("outcome", sa.String(16)),
        sa.Column("note", sa.Text),
        sa.Column("review_decision_id", sa.String(36)),
        sa.UniqueConstraint("tenant_id", "decision_id", name="uq_review_cases_decision"))
    op.create_index("ix_review_cases_status", "review_cases",
                    ["tenant_id", "status", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_review_cases_status", table_name="review_cases")
    op.drop_table("review_cases")
