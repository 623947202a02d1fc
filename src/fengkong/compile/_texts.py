"""Checks of reason codes against their customer-facing texts (docs/explanations.md).

Codes (stable): ``reason-text-missing`` (warning): a code a rule, characteristic, model or
``outcome.decline_reason`` can emit has no text in the catalogue or the strategy's
``reasons:``. ``reason-generic`` (error): a decline, refer or cap rule gives a generic
summary code (``SCORE_TOO_LOW``, ``OTHER``...) although it reads no score, so no specific
factor would explain it. ``reason-generic-factor`` (warning): a characteristic, model
feature or a written ``outcome.decline_reason`` is a generic code, which a customer is never shown while a specific reason remains.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from fengkong.explain import catalogue
from fengkong.expr.ast import root_names
from fengkong.strategy._spec import ScorecardSpec

if TYPE_CHECKING:
    from fengkong.compile._lower import _Lowering
    from fengkong.compile.ir import RuleIR, SlotIR
    from fengkong.strategy._load import Path_


def _emitted(lw: _Lowering) -> Iterator[tuple[Path_, str, str]]:
    """(path of the code, code, what emits it) for every reason code of the strategy."""
    spec = lw.spec
    for i, r in enumerate(spec.rules):
        yield ("rules", i, "reason"), r.reason, f"rule:{r.id}"
    for i, seg in enumerate(spec.segments):
        for j, r in enumerate(seg.rules):
            yield ("segments", i, "rules", j, "reason"), r.reason, f"rule:{r.id}"
    for name, card in spec.scorecards.items():
        if isinstance(card, ScorecardSpec):
            for i, ch in enumerate(card.characteristics):
                yield (("scorecards", name, "characteristics", i, "reason"), ch.reason,
                       f"characteristic `{ch.name}` of scorecard `{name}`")
    for name, model in spec.models.items():
        for feature, code in model.reasons.items():
            yield (("models", name, "reasons", feature), code,
                   f"feature `{feature}` of model `{name}`")
    o = spec.outcome
    written = "decline_reason" in o.model_fields_set
    path: Path_ = ("outcome", "decline_reason") if written else ("outcome",)
    if written or o.decision is not None:  # the default code is only given with `decision:`
        yield path, o.decline_reason, "outcome.decline_reason" if written else "default"


def check(lw: _Lowering, rules: tuple[RuleIR, ...], slots: tuple[SlotIR, ...]) -> None:
    """Report codes without a text and generic codes used as adverse reasons."""
    cat = catalogue()
    own = lw.spec.reasons
    scores = {s.name for s in slots if s.kind in ("scorecard", "model")}
    by_id = {r.id: r for r in rules}
    reported: set[str] = set()
    quiet = lw.sink.has_errors  # like the other lints, warnings only once the errors are gone
    for path, code, what in _emitted(lw):
        if not quiet and not cat.has_text(code, own) and code not in reported:
            reported.add(code)  # once per code, where it is first used
            lw.error(path, "reason-text-missing",
                     f"Reason code `{code}` has no customer-facing text in the catalogue; add "
                     f"`reasons: {{{code}: {{zh: ..., en: ...}}}}` to the strategy.",
                     severity="warning")
        if not cat.is_generic(code):
            continue
        if what.startswith("rule:"):
            rule = by_id.get(what[5:])
            if rule is None or rule.action == "flag":
                continue
            if not scores.intersection(root_names(rule.node)):
                lw.error(path, "reason-generic",
                         f"`{code}` is a generic code that does not say why; rule `{rule.id}` "
                         f"reads no score whose factors could explain it. Give the rule a "
                         "specific reason code.")
        elif not quiet and what != "default":  # the default is ranked last, never refused
            lw.error(path, "reason-generic-factor",
                     f"`{code}` is a generic code; {what} should give a specific reason "
                     "(a customer is not shown generic codes while a specific one remains).",
                     severity="warning")
