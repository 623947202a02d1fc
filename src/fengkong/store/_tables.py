"""The tables (SQLAlchemy Core): decision log, hash-chain heads, keys, strategy releases,
consents."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

tenants = Table(
    "tenants", metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("roles", String(128), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

strategy_versions = Table(
    "strategy_versions", metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("strategy_id", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("digest", String(80), nullable=False),
    Column("files", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("uploaded_by", String(32), nullable=False),
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
    Column("approved_by", String(32)),
    Column("approved_at", DateTime(timezone=True)),
)

deployments = Table(
    "deployments", metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("strategy_id", String(64), primary_key=True),
    Column("active_version", String(64), nullable=False),
    Column("candidate_version", String(64)),
    Column("candidate_mode", String(16)),
    Column("candidate_percent", Integer, nullable=False),
    Column("updated_by", String(32), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

release_events = Table(
    "release_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("strategy_id", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_release_events_strategy", "tenant_id", "strategy_id", "id"),
)

decisions = Table(
    "decisions", metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("input_hash", String(64), nullable=False),
    Column("strategy_id", String(64), nullable=False),
    Column("strategy_version", String(64), nullable=False),
    Column("strategy_digest", String(80), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("segment", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("latency_us", Integer, nullable=False),
    Column("record", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("tenant_id", "seq", name="uq_decisions_tenant_seq"),
    UniqueConstraint("tenant_id", "request_id", name="uq_decisions_tenant_request"),
    Index("ix_decisions_strategy_time", "tenant_id", "strategy_id", "decided_at"),
    Index("ix_decisions_time", "tenant_id", "decided_at"),
)

chain_heads = Table(
    "chain_heads", metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

consents = Table(
    "consents", metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("subject", String(64), nullable=False),  # the pseudonym, never the identifier
    Column("source", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("consent_type", String(16), nullable=False),
    Column("version", String(64), nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("valid_to", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("evidence_hash", String(71), nullable=False),
    Column("evidence_ref", String(256), nullable=False),
    Column("recorded_by", String(32), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_consents_subject", "tenant_id", "subject", "source", "purpose"),
)

review_cases = Table(
    "review_cases", metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("decision_id", String(36), nullable=False),  # the automated decision reviewed
    Column("status", String(16), nullable=False),  # pending | decided
    Column("lang", String(2), nullable=False),
    Column("reason", Text),  # the customer's own words, as the lender forwarded them
    Column("opened_by", String(32), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(32)),
    Column("decided_by_name", String(128)),
    Column("decided_at", DateTime(timezone=True)),
    Column("outcome", String(16)),
    Column("note", Text),
    Column("review_decision_id", String(36)),  # the log record of the human decision
    UniqueConstraint("tenant_id", "decision_id", name="uq_review_cases_decision"),
    Index("ix_review_cases_status", "tenant_id", "status", "opened_at"),
)
