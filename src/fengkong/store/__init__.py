"""Storage in SQL (SQLite embedded, PostgreSQL in production): the decision log and
its audit chain, API keys, strategy releases, consents and human-review cases, with
Alembic migrations."""

from fengkong.store import _releases as releases
from fengkong.store import _reviews as reviews
from fengkong.store._audit import ChainReport, count_records, tenants_with_chains, verify_chain
from fengkong.store._consents import (
    CONSENT_TYPES,
    PURPOSES,
    ConsentError,
    ConsentStatus,
    NewConsent,
    consent_status,
    get_consent,
    grant_consent,
    import_consents,
    list_consents,
    revoke_consent,
)
from fengkong.store._db import Database, StoreError, sqlite_url, utcnow
from fengkong.store._ids import new_id
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
    decision_for_request,
    get_decision,
    list_decisions,
    record_hash,
)
from fengkong.store._releases import Deployment, ReleaseError

__all__ = [
    "CONSENT_TYPES",
    "PURPOSES",
    "ROLES",
    "ChainReport",
    "ConsentError",
    "ConsentStatus",
    "Database",
    "DecisionLog",
    "Deployment",
    "KeyRequestError",
    "NewConsent",
    "NewDecision",
    "Principal",
    "ReleaseError",
    "RequestIdReused",
    "StoreError",
    "StoredDecision",
    "append_decisions",
    "authenticate",
    "consent_status",
    "count_records",
    "create_key",
    "decision_for_request",
    "ensure_tenant",
    "get_consent",
    "get_decision",
    "grant_consent",
    "import_consents",
    "list_consents",
    "list_decisions",
    "list_keys",
    "new_id",
    "record_hash",
    "releases",
    "reviews",
    "revoke_consent",
    "revoke_key",
    "sqlite_url",
    "tenants_with_chains",
    "utcnow",
    "verify_chain",
]
