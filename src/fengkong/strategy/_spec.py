"""The strategy file format, as frozen pydantic models (the JSON Schema is generated from these)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

Identifier = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$", max_length=64)]
FieldName = Annotated[
    str, Field(pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$", max_length=128)]
ReasonCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=64)]


def _number_as_expression(value: Any) -> Any:
    # `limit: 5000` is as natural in YAML as `limit: "5000"`; both are expressions.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    return value


Expr = Annotated[str, BeforeValidator(_number_as_expression),
                 Field(min_length=1, max_length=4000,
                       description="An expression, e.g. `applicant.age >= 18 and dti < 0.45`.")]

Stage = Literal["acquisition", "origination", "account_management", "collections"]
PiiKind = Literal["id_card", "phone", "name", "bank_card", "email", "address", "device_id",
                  "ip_address", "other"]
Market = Literal["cn", "us", "eu"]
AttributeCategory = Literal[
    # Refused in some or all markets (see docs/strategy-format.md, "Protected data").
    "religion", "ethnicity", "race", "national_origin", "genetic", "biometric", "fingerprint",
    "blood_type", "health", "political_opinion", "sexual_orientation", "trade_union", "sex",
    "marital_status",
    # C3 authentication data (JR/T 0171-2020): refused in every market.
    "password", "verification_code", "card_security_code",
    # Ordinary data, permitted everywhere.
    "age", "identity", "contact", "financial", "credit_history", "employment", "device",
    "location", "behaviour", "other"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputSpec(_Spec):
    """One input field of the request record."""

    type: Literal["int", "float", "bool", "str", "enum", "date"]
    required: bool = Field(True, description="A required field must be present and not null.")
    min: float | None = Field(None, description="Smallest allowed value (int, float).")
    max: float | None = Field(None, description="Largest allowed value (int, float).")
    values: list[str] | None = Field(None, description="Allowed values (enum).", min_length=1)
    max_length: int | None = Field(None, ge=1, description="Longest allowed string (str).")
    pii: PiiKind | None = Field(None, description="Kind of personal data this field holds.")
    category: AttributeCategory | None = Field(
        None, description="What the attribute is about; categories the market prohibits and "
                          "C3 authentication data are refused.")
    allow_name: bool = Field(
        False, description="The field's name looks like prohibited or C3 data but is not "
                           "(needs `reason`); a declared `category` is never overridden.")
    reason: str | None = Field(None, min_length=1, max_length=500,
                               description="Why `allow_name` is safe, for reviewers.")
    description: str | None = None


class RuleSpec(_Spec):
    """A policy or fraud rule: when the condition is true, the action applies."""

    id: Identifier
    when: Expr
    action: Literal["decline", "refer", "flag", "cap"]
    reason: ReasonCode
    limit: Expr | None = Field(None, description="For `cap`: the highest limit allowed.")
    description: str | None = None


class BinSpec(_Spec):
    """A scorecard bin: a unary test on the characteristic's value and its points."""

    when: str = Field(description="A unary test: `< 25`, `[25..35)`, `'a','b'`.")
    points: float


class SpecialSpec(_Spec):
    """Special values (e.g. -999 for 'not applicable') scored apart from the bins."""

    values: list[float | str] = Field(min_length=1)
    points: float


class CharacteristicSpec(_Spec):
    """One scorecard characteristic with explicit missing and special-value bins."""

    name: Identifier
    expr: Expr
    reason: ReasonCode
    missing: float = Field(description="Points when the value is null (the missing bin).")
    special: list[SpecialSpec] = Field(default_factory=list)
    bins: list[BinSpec] = Field(min_length=1)
    other: float = Field(0.0, description="Points for a value no bin matches.")


class ScorecardSpec(_Spec):
    """A points scorecard: ``score = base_points + sum(characteristic points)``."""

    scorecard: Identifier | None = None
    version: int | str | None = None
    base_points: float = 0.0
    pdo: float | None = None
    base_score: float | None = None
    base_odds: float | None = None
    characteristics: list[CharacteristicSpec] = Field(min_length=1)


class ArtifactRef(_Spec):
    """A component kept in its own file, relative to the strategy file."""

    file: str


def _scorecard_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "file" if "file" in value else "inline"
    return "file" if isinstance(value, ArtifactRef) else "inline"


ScorecardOrFile = Annotated[
    Annotated[ScorecardSpec, Tag("inline")] | Annotated[ArtifactRef, Tag("file")],
    Discriminator(_scorecard_kind)]
UNION_TAGS = frozenset({"inline", "file", "connector:http", "connector:sql", "connector:file",
                        "connector:request"})


class ModelSpec(_Spec):
    """A LightGBM model (text format) with reason codes from feature contributions."""

    file: str
    inputs: dict[str, Expr] = Field(description="Model feature name -> expression.")
    reasons: dict[str, ReasonCode] = Field(default_factory=dict,
                                           description="Model feature name -> reason code.")
    output: Literal["probability", "raw"] = "probability"


class TableSpec(_Spec):
    """A decision table: rows of unary tests on ``inputs`` giving ``outputs``."""

    hit_policy: Literal["first", "unique", "collect"]
    aggregate: Literal["sum", "min", "max", "count"] | None = None
    inputs: list[Expr] = Field(min_length=1)
    outputs: list[Identifier] = Field(min_length=1)
    rows: list[list[Any]] = Field(min_length=1)
    description: str | None = None


class SegmentSpec(_Spec):
    """A customer segment: the first segment whose condition holds is used."""

    name: Identifier
    when: Expr | None = Field(None, description="Omit only on the last (default) segment.")
    use: dict[Identifier, Identifier] = Field(default_factory=dict,
                                              description="Slot -> component, overriding the base.")
    skip_rules: list[Identifier] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    description: str | None = None


class ExperimentSpec(_Spec):
    """Champion/challenger: arms chosen by a stable hash of the key and the experiment id."""

    key: Expr
    arms: dict[Identifier, float] = Field(min_length=2, description="Arm -> weight (share).")
    use: dict[Identifier, dict[Identifier, Identifier]] = Field(
        default_factory=dict, description="Arm -> {slot -> component}.")
    when: Expr | None = Field(None, description="Who takes part; others get no arm.")
    description: str | None = None


class OutcomeSpec(_Spec):
    """How the final decision, amounts and reasons are assembled."""

    decision: Expr | None = Field(
        None, description="Default: decline if a decline rule fired, refer if a refer rule "
                          "fired, else approve.")
    limit: Expr | None = None
    apr: Expr | None = None
    term: Expr | None = None
    limit_step: float | None = Field(None, gt=0, description="Round the limit down to a multiple.")
    max_reasons: int = Field(4, ge=1, le=4)
    decline_reason: ReasonCode = "POLICY_DECLINE"


Purpose = Literal["acquisition", "origination", "account_management", "collections", "marketing",
                  "modelling"]
ConsentType = Literal["general", "separate", "written"]
SourceKind = Literal["credit_report", "income_asset", "telecom", "ecommerce", "identity",
                     "fraud", "internal", "digital_assets", "social", "other"]
Policy = Literal["refer", "decline", "continue"]


class _ConnectorSpec(_Spec):
    request: dict[Identifier, FieldName] = Field(
        default_factory=dict, description="Parameter name -> input field sent to the provider.")


class HttpConnectorSpec(_ConnectorSpec):
    """A JSON provider over HTTP(S): the parameters go as a JSON body (POST) or query (GET)."""

    type: Literal["http"]
    url: str = Field(min_length=1, max_length=2000,
                     description="`${NAME}` is replaced by the environment variable NAME.")
    method: Literal["GET", "POST"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict,
                                    description="`${NAME}` is replaced from the environment.")
    response: str | None = Field(None, description="Dotted path of the object holding the "
                                                   "fields in the response, e.g. `data.report`.")


class SqlConnectorSpec(_ConnectorSpec):
    """One row from a SQL query with named parameters (`:name`); no row: no data."""

    type: Literal["sql"]
    url: str = Field(min_length=1, max_length=2000,
                     description="SQLAlchemy URL; `${NAME}` is replaced from the environment.")
    query: str = Field(min_length=1, max_length=20000)


class FileConnectorSpec(_ConnectorSpec):
    """A lookup table in a CSV, JSON Lines or Parquet file, loaded once, matched on one key."""

    type: Literal["file"]
    path: str = Field(min_length=1, description="Relative to the strategy file.")
    key_column: str = Field(min_length=1)
    key: FieldName = Field(description="The input matched against `key_column`; a personal "
                                       "data input is matched by its pseudonym.")


class RequestConnectorSpec(_ConnectorSpec):
    """Data the caller fetched and sends with the application, under the source's name."""

    type: Literal["request"]


def _connector_kind(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"connector:{kind}" if kind in ("http", "sql", "file", "request") else None


ConnectorSpec = Annotated[
    Annotated[HttpConnectorSpec, Tag("connector:http")]
    | Annotated[SqlConnectorSpec, Tag("connector:sql")]
    | Annotated[FileConnectorSpec, Tag("connector:file")]
    | Annotated[RequestConnectorSpec, Tag("connector:request")],
    Discriminator(_connector_kind, custom_error_type="connector-type",
                  custom_error_message="`type` must be one of http, sql, file, request")]


class BreakerSpec(_Spec):
    """Stop calling a failing provider for a while."""

    failures: int = Field(5, ge=1, le=1000, description="Consecutive failures that open it.")
    reset_s: float = Field(30.0, gt=0, le=86400, description="Seconds before one trial call.")


class SourceFieldSpec(_Spec):
    """One value a source delivers (always optional: the source may not be called)."""

    type: Literal["int", "float", "bool", "str", "enum", "date"]
    min: float | None = None
    max: float | None = None
    values: list[str] | None = Field(None, min_length=1)
    max_length: int | None = Field(None, ge=1)
    description: str | None = None


class SourceSpec(_Spec):
    """An external data source: what it needs (consent, purpose) and how it is called."""

    kind: SourceKind
    purpose: Purpose
    consent: ConsentType = Field(description="The consent type the source needs at least.")
    subject: FieldName = Field(description="The personal data input that identifies the "
                                           "person whose consent is checked.")
    data_class: Literal["C1", "C2", "C3"] = Field(description="JR/T 0171-2020 data class.")
    sensitive: bool = Field(False, description="Sensitive personal information: needs "
                                               "`separate` consent at least.")
    enabled: bool | None = Field(None, description="Alternative data (digital_assets, social) "
                                                   "is off unless `true`.")
    fields: dict[FieldName, SourceFieldSpec] = Field(min_length=1)
    connector: ConnectorSpec
    timeout_ms: int = Field(1000, ge=1, le=60000)
    retries: int = Field(0, ge=0, le=5)
    retry_backoff_ms: int = Field(50, ge=0, le=10000)
    cache_ttl_s: float = Field(0.0, ge=0, le=30 * 86400,
                               description="Keep answers per person (by pseudonym); 0: never.")
    circuit_breaker: BreakerSpec = Field(default_factory=BreakerSpec)
    on_missing_consent: Policy = "refer"
    on_failure: Policy = "continue"
    description: str | None = None


class VelocitySpec(_Spec):
    """A sliding-window aggregate per key: read in expressions as ``velocity.<name>``."""

    key: FieldName = Field(description="The input the events are counted per (a personal "
                                       "data input is used as its pseudonym).")
    agg: Literal["count", "sum", "distinct_count"]
    value: FieldName | None = Field(None, description="The input summed (`sum`) or whose "
                                                      "distinct values are counted "
                                                      "(`distinct_count`).")
    window: str = Field(min_length=2, max_length=8,
                        description="How far back: a whole number and a unit, e.g. `1h`, "
                                    "`24h`, `7d`, `30d` (units s, m, h, d).")
    description: str | None = None


class StrategySpec(_Spec):
    """A decision strategy: the whole file."""

    schema_version: Literal[1] = 1
    strategy: Identifier
    version: int | str
    stage: Stage
    market: Market = Field("cn", description="Whose law decides which attributes are prohibited.")
    description: str | None = None
    inputs: dict[FieldName, InputSpec] = Field(min_length=1)
    sources: dict[Identifier, SourceSpec] = Field(default_factory=dict)
    source_deadline_ms: int = Field(2000, ge=1, le=120000,
                                    description="All sources of one decision finish within this.")
    velocity: dict[Identifier, VelocitySpec] = Field(
        default_factory=dict, description="Sliding-window aggregates per key, computed by the "
                                          "service (online) or from history (batch).")
    features: dict[Identifier, Expr] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)
    scorecards: dict[Identifier, ScorecardOrFile] = Field(default_factory=dict)
    models: dict[Identifier, ModelSpec] = Field(default_factory=dict)
    tables: dict[Identifier, TableSpec] = Field(default_factory=dict)
    use: dict[Identifier, Identifier] = Field(default_factory=dict,
                                              description="Slot -> component for every segment.")
    segments: list[SegmentSpec] = Field(default_factory=list)
    experiments: dict[Identifier, ExperimentSpec] = Field(default_factory=dict)
    outcome: OutcomeSpec = Field(default_factory=OutcomeSpec)
    reasons: dict[ReasonCode, dict[Literal["zh", "en"], Annotated[str, Field(min_length=1, max_length=500)]]] = Field(
        default_factory=dict, description="Reason code -> {zh, en} customer-facing texts, adding to "
                                          "or overriding the built-in catalogue.")
