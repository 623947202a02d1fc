"""The compiled plan: frozen, backend-neutral, built once per strategy version."""

from __future__ import annotations

from dataclasses import dataclass, field

from fengkong.compile._cells import Cell
from fengkong.compile._lightgbm import LightGBMModel
from fengkong.expr.ast import Info, Node


@dataclass(frozen=True, slots=True)
class FieldIR:
    """An input field and its checks."""

    name: str
    type: str  # int, float, bool, str, enum, date
    required: bool
    lo: float | None
    hi: float | None
    values: tuple[str, ...] | None
    max_length: int | None
    pii: str | None
    source: str | None = None  # the data source that delivers it (None: the request)

    @property
    def info(self) -> Info:
        """Static facts expressions see."""
        kind = "str" if self.type == "enum" else self.type
        lo = self.lo if self.lo is not None else (-(2.0**53) if self.type == "int" else float("-inf"))
        hi = self.hi if self.hi is not None else (2.0**53 if self.type == "int" else float("inf"))
        if kind not in ("int", "float"):
            lo, hi = float("-inf"), float("inf")
        return Info(kind, not self.required, lo, hi, self.values)  # type: ignore[arg-type]


# What a source's status field can hold; the first is success.
SOURCE_OK = "OK"
SOURCE_CONSENT_CODES = ("CONSENT_MISSING", "CONSENT_EXPIRED", "CONSENT_REVOKED",
                        "PURPOSE_MISMATCH", "SEPARATE_CONSENT_REQUIRED",
                        "WRITTEN_CONSENT_REQUIRED")
SOURCE_FAILURE_CODES = ("TIMEOUT", "ERROR", "INVALID_RESPONSE", "CIRCUIT_OPEN")
SOURCE_STATUSES = (SOURCE_OK, "NO_DATA", "FEATURE_NOT_ENABLED", *SOURCE_CONSENT_CODES,
                   *SOURCE_FAILURE_CODES)
ALTERNATIVE_KINDS = frozenset({"digital_assets", "social"})
CONSENT_RANK = {"general": 0, "separate": 1, "written": 2}


@dataclass(frozen=True, slots=True)
class SourceIR:
    """An external data source: the consent it needs and how to call it.

    ``fields`` are the values it delivers (``<name>.<field>``, all optional);
    ``status`` names the field holding the outcome (one of ``SOURCE_STATUSES``).
    ``connector`` is the validated connector spec as plain data.
    """

    name: str
    kind: str
    purpose: str
    consent: str  # the weakest consent type that suffices
    subject: str  # the personal data input identifying the person
    subject_pii: str  # its kind (id_card, phone, ...)
    data_class: str
    alternative: bool
    enabled: bool
    fields: tuple[FieldIR, ...]
    connector: dict[str, object]
    timeout_ms: int
    retries: int
    retry_backoff_ms: int
    cache_ttl_s: float
    breaker_failures: int
    breaker_reset_s: float
    on_missing_consent: str
    on_failure: str
    base_dir: str  # where relative connector paths start

    @property
    def status(self) -> str:
        """The input field holding this source's outcome."""
        return f"sources.{self.name}.status"


@dataclass(frozen=True, slots=True)
class VelocityIR:
    """A sliding-window aggregate per key, delivered as the optional input ``field``.

    The window is ``(t - window_s, t]`` at the decision's instant ``t``, the
    decision's own event included. ``key_pii`` is the key's kind of personal data
    (the key is then its pseudonym), else None.
    """

    name: str
    key: str
    key_pii: str | None
    agg: str  # count, sum, distinct_count
    value: str | None
    window_s: int

    @property
    def field(self) -> str:
        """The input field holding the aggregate."""
        return f"velocity.{self.name}"


@dataclass(frozen=True, slots=True)
class FeatureIR:
    """A named derived value."""

    name: str
    node: Node


@dataclass(frozen=True, slots=True)
class SegmentIR:
    """A routing branch; ``cond`` is None for the default."""

    name: str
    cond: Node | None


@dataclass(frozen=True, slots=True)
class ExperimentIR:
    """Champion/challenger split by a stable hash of ``experiment_id:key``."""

    name: str
    key: Node
    when: Node | None
    arms: tuple[str, ...]
    bounds: tuple[int, ...]  # cumulative upper bucket (of 10,000) per arm

    @property
    def column(self) -> str:
        """Output column holding the arm."""
        return f"experiment.{self.name}"


@dataclass(frozen=True, slots=True)
class CharacteristicIR:
    """A scorecard characteristic with its bins."""

    name: str
    node: Node
    reason: str
    missing: float
    specials: tuple[tuple[tuple[object, ...], float], ...]
    bins: tuple[tuple[Cell, float], ...]
    other: float

    @property
    def max_points(self) -> float:
        """The most points this characteristic can give (what adverse reasons measure from)."""
        pts = [self.missing, self.other, *(p for _, p in self.specials), *(p for _, p in self.bins)]
        return max(pts)


@dataclass(frozen=True, slots=True)
class ScorecardIR:
    """A points scorecard."""

    name: str
    base_points: float
    characteristics: tuple[CharacteristicIR, ...]


@dataclass(frozen=True, slots=True)
class ModelIR:
    """A LightGBM model: one input expression per model feature, reason codes by feature."""

    name: str
    file: str  # as written in the strategy, for messages
    model: LightGBMModel
    inputs: tuple[Node, ...]  # in model feature order
    reasons: tuple[str | None, ...]  # in model feature order; None: no reason code
    output: str  # probability | raw

    @property
    def features(self) -> tuple[str, ...]:
        """The model's feature names, in its order."""
        return self.model.feature_names

    @property
    def bounds(self) -> tuple[float, float]:
        """The lowest and highest value the model can give."""
        return (0.0, 1.0) if self.output == "probability" else self.model.raw_bounds()


@dataclass(frozen=True, slots=True)
class RowIR:
    """A decision-table row."""

    cells: tuple[Cell, ...]
    outputs: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class TableIR:
    """A decision table."""

    name: str
    hit_policy: str
    aggregate: str | None
    inputs: tuple[Node, ...]
    outputs: tuple[str, ...]
    output_info: tuple[Info, ...]
    rows: tuple[RowIR, ...]


@dataclass(frozen=True, slots=True)
class SlotIR:
    """A named place a component is plugged into; segments and arms may rebind it.

    ``choices`` are tried in order: ``(experiment, arm, component)`` overrides first,
    then ``(None, segment, component)``; ``base`` applies otherwise (None: unbound).
    """

    name: str
    kind: str  # scorecard | model | table
    choices: tuple[tuple[str | None, str, str], ...]
    base: str | None
    info: tuple[Info, ...]  # the value's Info (scorecard, model) or one per output (table)
    outputs: tuple[str, ...] = ()

    @property
    def components(self) -> tuple[str, ...]:
        """Every component this slot may run, without duplicates."""
        names = [c for *_, c in self.choices] + ([self.base] if self.base else [])
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class RuleIR:
    """A rule, active in all segments or only some."""

    id: str
    node: Node
    action: str
    reason: str
    limit: Node | None
    segments: frozenset[str] | None  # None: every segment

    @property
    def column(self) -> str:
        """Internal column of the fired flag."""
        return f"rule.{self.id}"


@dataclass(frozen=True, slots=True)
class OutcomeIR:
    """Final assembly."""

    decision: Node | None
    limit: Node | None
    apr: Node | None
    term: Node | None
    limit_step: float | None
    max_reasons: int
    decline_reason: str


@dataclass(frozen=True, slots=True)
class Column:
    """An output column of a decision (online record or batch table)."""

    name: str
    type: str  # int, float, str, bool, datetime, list


@dataclass(frozen=True)
class Plan:
    """Everything both backends need, with no reference to either."""

    strategy_id: str
    version: str
    stage: str
    digest: str
    fields: tuple[FieldIR, ...]
    features: tuple[FeatureIR, ...]
    segments: tuple[SegmentIR, ...]
    experiments: tuple[ExperimentIR, ...]
    scorecards: dict[str, ScorecardIR]
    tables: dict[str, TableIR]
    slots: tuple[SlotIR, ...]
    rules: tuple[RuleIR, ...]
    outcome: OutcomeIR
    columns: tuple[Column, ...]
    models: dict[str, ModelIR] = field(default_factory=dict)
    # Personal data fields with their declared constraints, as the raw value must meet
    # them; with ``pii_tokens`` the plan's ``fields`` hold them as plain strings instead.
    pii_fields: tuple[FieldIR, ...] = ()
    sources: tuple[SourceIR, ...] = ()
    source_deadline_ms: int = 2000
    velocity: tuple[VelocityIR, ...] = ()
