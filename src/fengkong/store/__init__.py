"""Storage in SQL (SQLite embedded, PostgreSQL in production): the decision log and
its audit chain, API keys and strategy releases, with Alembic migrations."""

from fengkong.store import _releases as releases
from fengkong.store._audit import ChainReport, count_records, tenants_with_chains, verify_chain
from fengkong.store._db import Database, StoreError, sqlite_url, utcnow
from fengkong.store._keys import (
    ROLES,
    KeyRequestError,
    Principal,
    authenticate,
    create_key,
    ensure_tenant,
    list_keys,
    revoke_key,
)
from fengkong.store._log import (
    DecisionLog,
    NewDecision,
    RequestIdReused,
    StoredDecision,
    append_decisions,
    get_decision,
    list_decisions,
    record_hash,
)
from fengkong.store._releases import Deployment, ReleaseError

__all__ = [
    "ROLES", "ChainReport", "Database", "DecisionLog", "Deployment", "KeyRequestError",
    "NewDecision", "Principal", "ReleaseError", "RequestIdReused", "StoreError",
    "StoredDecision", "append_decisions", "authenticate", "count_records", "create_key",
    "ensure_tenant", "get_decision", "list_decisions", "list_keys", "record_hash", "releases",
    "revoke_key", "sqlite_url", "tenants_with_chains", "utcnow", "verify_chain",
]
