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
UNION_TAGS = frozenset({"inline", "file"})


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


class StrategySpec(_Spec):
    """A decision strategy: the whole file."""

    schema_version: Literal[1] = 1
    strategy: Identifier
    version: int | str
    stage: Stage
    market: Market = Field("cn", description="Whose law decides which attributes are prohibited.")
    description: str | None = None
    inputs: dict[FieldName, InputSpec] = Field(min_length=1)
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
