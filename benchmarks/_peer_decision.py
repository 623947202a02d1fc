"""The peers' benchmark decision, copied from /work/shared/peers/bench_decision_engines.py.

20 knock-out rules with reason codes, a 30-row score band x segment pricing table
(first hit), limit = min(table limit, 3 x monthly income), APPROVE when no rule fired
and the limit is above zero. The data, the applicant generator, the hand-written
plain-Python floor (``py_handwritten``) and the zen-engine JDM graph (``build_jdm``) are
the peers' own, statement for statement; only the layout follows our linter (one
statement per line). ``benchmarks/strategies/rules_table.yaml`` is the same decision as
a fengkong strategy.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

# (reason code, decline condition in ZEN syntax, Python mirror)
POLICY_RULES: list[tuple[str, str, Callable[[dict[str, Any]], bool]]] = [
    ("R01_AGE_MIN", "age < 18", lambda a: a["age"] < 18),
    ("R02_AGE_MAX", "age > 75", lambda a: a["age"] > 75),
    ("R03_INCOME_MIN", "income_monthly < 1000", lambda a: a["income_monthly"] < 1000),
    ("R04_DTI_MAX", "dti > 0.45", lambda a: a["dti"] > 0.45),
    ("R05_BANKRUPTCY", "bankrupt == true", lambda a: a["bankrupt"] is True),
    ("R06_DELINQUENCY", "delinq_12m > 2", lambda a: a["delinq_12m"] > 2),
    ("R07_ADDRESS_TENURE", "months_at_address < 6", lambda a: a["months_at_address"] < 6),
    ("R08_FRAUD_FLAG", "fraud_flag == true", lambda a: a["fraud_flag"] is True),
    ("R09_INQUIRIES", "inquiries_6m > 6", lambda a: a["inquiries_6m"] > 6),
    ("R10_EMPLOYMENT", "employment_months < 3", lambda a: a["employment_months"] < 3),
    ("R11_COUNTRY", 'not (country in ["US", "CA", "GB"])',
     lambda a: a["country"] not in ("US", "CA", "GB")),
    ("R12_AFFORDABILITY", "loan_amount > income_monthly * 6",
     lambda a: a["loan_amount"] > a["income_monthly"] * 6),
    ("R13_EXISTING_DEBT", "existing_debt > 50000", lambda a: a["existing_debt"] > 50000),
    ("R14_NO_BANK_ACCOUNT", "has_bank_account == false", lambda a: a["has_bank_account"] is False),
    ("R15_ID_NOT_VERIFIED", "id_verified == false", lambda a: a["id_verified"] is False),
    ("R16_BLACKLIST", "blacklisted == true", lambda a: a["blacklisted"] is True),
    ("R17_UTILIZATION", "utilization > 0.9", lambda a: a["utilization"] > 0.9),
    ("R18_COLLECTIONS", "collections_count > 0", lambda a: a["collections_count"] > 0),
    ("R19_OPEN_ACCOUNTS", "open_accounts > 20", lambda a: a["open_accounts"] > 20),
    ("R20_TERM", "not (term_months in [12, 24, 36, 48, 60])",
     lambda a: a["term_months"] not in (12, 24, 36, 48, 60)),
]

SEGMENTS = ["existing", "new_to_bank", "thin_file"]
# score bands [lo, hi)
BANDS = [(300, 500), (500, 550), (550, 600), (600, 640), (640, 680),
         (680, 720), (720, 760), (760, 800), (800, 830), (830, 901)]
SEG_LIMIT_FACTOR = {"existing": 1.0, "new_to_bank": 0.7, "thin_file": 0.5}
SEG_APR_ADD = {"existing": 0.0, "new_to_bank": 1.5, "thin_file": 3.0}


def _pricing_rows() -> list[tuple[int, int, str, int, float]]:
    rows = []
    for b, (lo, hi) in enumerate(BANDS):
        base_limit = 0 if b == 0 else 500 * b * b  # 0, 500, 2000, 4500, ... 40500
        base_apr = 0.0 if b == 0 else round(35.0 - 2.5 * b, 2)
        for seg in SEGMENTS:
            limit = int(base_limit * SEG_LIMIT_FACTOR[seg])
            apr = 0.0 if b == 0 else round(base_apr + SEG_APR_ADD[seg], 2)
            rows.append((lo, hi, seg, limit, apr))
    return rows


PRICING_ROWS = _pricing_rows()
assert len(PRICING_ROWS) == 30
assert len(POLICY_RULES) == 20


def make_applicants(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """The peers' deterministic synthetic applicants."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        income = round(rnd.lognormvariate(8.0, 0.6), 2)  # monthly, median ~3000
        out.append({
            "age": rnd.randint(16, 80),
            "income_monthly": income,
            "dti": round(rnd.betavariate(2, 6), 3),
            "bankrupt": rnd.random() < 0.02,
            "delinq_12m": rnd.choices([0, 1, 2, 3, 4], [80, 10, 5, 3, 2])[0],
            "months_at_address": rnd.randint(0, 240),
            "fraud_flag": rnd.random() < 0.01,
            "inquiries_6m": rnd.choices(range(10), [30, 25, 15, 10, 7, 5, 3, 2, 2, 1])[0],
            "employment_months": rnd.randint(0, 300),
            "country": rnd.choices(["US", "CA", "GB", "FR"], [70, 12, 15, 3])[0],
            "loan_amount": rnd.choice([1000, 2500, 5000, 10000, 15000, 25000]),
            "existing_debt": round(rnd.expovariate(1 / 12000.0), 2),
            "has_bank_account": rnd.random() > 0.02,
            "id_verified": rnd.random() > 0.03,
            "blacklisted": rnd.random() < 0.005,
            "utilization": round(rnd.random(), 3),
            "collections_count": rnd.choices([0, 1, 2], [92, 6, 2])[0],
            "open_accounts": rnd.randint(0, 25),
            "term_months": rnd.choice([12, 24, 36, 48, 60, 60, 36, 18]),
            "bureau_score": rnd.randint(300, 900),
            "segment": rnd.choice(SEGMENTS),
        })
    return out


def py_handwritten(a: dict[str, Any]) -> dict[str, Any]:
    """Plain-Python floor: hand-written if/else, no engine."""
    reasons = []
    if a["age"] < 18:
        reasons.append("R01_AGE_MIN")
    if a["age"] > 75:
        reasons.append("R02_AGE_MAX")
    inc = a["income_monthly"]
    if inc < 1000:
        reasons.append("R03_INCOME_MIN")
    if a["dti"] > 0.45:
        reasons.append("R04_DTI_MAX")
    if a["bankrupt"] is True:
        reasons.append("R05_BANKRUPTCY")
    if a["delinq_12m"] > 2:
        reasons.append("R06_DELINQUENCY")
    if a["months_at_address"] < 6:
        reasons.append("R07_ADDRESS_TENURE")
    if a["fraud_flag"] is True:
        reasons.append("R08_FRAUD_FLAG")
    if a["inquiries_6m"] > 6:
        reasons.append("R09_INQUIRIES")
    if a["employment_months"] < 3:
        reasons.append("R10_EMPLOYMENT")
    if a["country"] not in ("US", "CA", "GB"):
        reasons.append("R11_COUNTRY")
    if a["loan_amount"] > inc * 6:
        reasons.append("R12_AFFORDABILITY")
    if a["existing_debt"] > 50000:
        reasons.append("R13_EXISTING_DEBT")
    if a["has_bank_account"] is False:
        reasons.append("R14_NO_BANK_ACCOUNT")
    if a["id_verified"] is False:
        reasons.append("R15_ID_NOT_VERIFIED")
    if a["blacklisted"] is True:
        reasons.append("R16_BLACKLIST")
    if a["utilization"] > 0.9:
        reasons.append("R17_UTILIZATION")
    if a["collections_count"] > 0:
        reasons.append("R18_COLLECTIONS")
    if a["open_accounts"] > 20:
        reasons.append("R19_OPEN_ACCOUNTS")
    if a["term_months"] not in (12, 24, 36, 48, 60):
        reasons.append("R20_TERM")
    s = a["bureau_score"]
    if s < 500:
        b = 0
    elif s < 550:
        b = 1
    elif s < 600:
        b = 2
    elif s < 640:
        b = 3
    elif s < 680:
        b = 4
    elif s < 720:
        b = 5
    elif s < 760:
        b = 6
    elif s < 800:
        b = 7
    elif s < 830:
        b = 8
    else:
        b = 9
    seg = a["segment"]
    seg_i = 0 if seg == "existing" else (1 if seg == "new_to_bank" else 2)
    _, _, _, limit, apr = PRICING_ROWS[b * 3 + seg_i]
    limit = min(limit, inc * 3)
    decision = "APPROVE" if (not reasons and limit > 0) else "DECLINE"
    return {"decision": decision, "reasons": reasons, "limit": limit, "apr": apr}


def build_jdm() -> dict[str, Any]:
    """The peers' JDM graph: input -> policy table (first hit + per-column collect
    'reasons[]') -> pricing table (first hit, 30 rows) -> expression node -> output."""
    policy_rules = [{"_id": f"p{i + 1:02d}", "cond": expr, "reason": json.dumps(code)}
                    for i, (code, expr, _) in enumerate(POLICY_RULES)]
    pricing_rules = [{"_id": f"t{i + 1:02d}", "score": f"[{lo}..{hi})", "seg": json.dumps(seg),
                      "limit": str(limit), "apr": str(apr)}
                     for i, (lo, hi, seg, limit, apr) in enumerate(PRICING_ROWS)]
    return {
        "contentType": "application/vnd.gorules.decision",
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "application",
             "position": {"x": 0, "y": 0}, "content": {"schema": ""}},
            {"id": "policy", "type": "decisionTableNode", "name": "policy_rules",
             "position": {"x": 200, "y": 0},
             "content": {"hitPolicy": "first", "passThrough": True, "inputField": None,
                         "outputPath": None, "executionMode": "single",
                         "inputs": [{"id": "cond", "name": "Decline condition", "field": ""}],
                         "outputs": [{"id": "reason", "name": "Reason", "field": "reasons[]"}],
                         "rules": policy_rules}},
            {"id": "pricing", "type": "decisionTableNode", "name": "pricing_table",
             "position": {"x": 400, "y": 0},
             "content": {"hitPolicy": "first", "passThrough": True, "inputField": None,
                         "outputPath": None, "executionMode": "single",
                         "inputs": [{"id": "score", "name": "Bureau score", "field": "bureau_score"},
                                    {"id": "seg", "name": "Segment", "field": "segment"}],
                         "outputs": [{"id": "limit", "name": "Limit", "field": "table_limit"},
                                     {"id": "apr", "name": "APR", "field": "apr"}],
                         "rules": pricing_rules}},
            {"id": "final", "type": "expressionNode", "name": "final_decision",
             "position": {"x": 600, "y": 0},
             "content": {"passThrough": False, "inputField": None, "outputPath": None,
                         "executionMode": "single",
                         "expressions": [
                             {"id": "e1", "key": "reasons", "value": "reasons ?? []"},
                             {"id": "e2", "key": "limit",
                              "value": "min([table_limit ?? 0, income_monthly * 3])"},
                             {"id": "e3", "key": "apr", "value": "apr ?? 0"},
                             {"id": "e4", "key": "decision",
                              "value": "len($.reasons) == 0 and $.limit > 0 ? 'APPROVE' : 'DECLINE'"},
                         ]}},
            {"id": "out", "type": "outputNode", "name": "decision",
             "position": {"x": 800, "y": 0}, "content": {"schema": ""}},
        ],
        "edges": [
            {"id": "e-1", "sourceId": "in", "targetId": "policy", "type": "edge"},
            {"id": "e-2", "sourceId": "policy", "targetId": "pricing", "type": "edge"},
            {"id": "e-3", "sourceId": "pricing", "targetId": "final", "type": "edge"},
            {"id": "e-4", "sourceId": "final", "targetId": "out", "type": "edge"},
        ],
    }


def normalise(out: dict[str, Any]) -> tuple[Any, ...]:
    """The peers' comparison key: decision, reasons, limit and APR (2 decimals)."""
    return (out["decision"], tuple(out["reasons"]), round(float(out["limit"]), 2),
            round(float(out["apr"]), 2))
