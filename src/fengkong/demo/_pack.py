"""The example strategy pack shipped with fengkong, and a sample record for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fengkong

_PACK = Path(fengkong.__file__).parent / "examples" / "consumer_loan"


def example_pack_dir() -> Path:
    """The folder of the example consumer-loan strategy pack (strategy plus scorecards)."""
    return _PACK


def example_strategy_path() -> Path:
    """The example strategy file."""
    return _PACK / "strategy.yaml"


def example_record() -> dict[str, Any]:
    """One synthetic application for the example strategy (nested, as an API would send it)."""
    return {
        "application_id": "A0000000001", "applied_at": "2026-03-14",
        "channel": "app", "scenario": "consumption",
        "applicant": {
            "id_number": "110105199003071239", "phone": "13800000000", "name": "张三",
            "age": 36, "occupation": "salaried", "education": "bachelor",
            "income_monthly": 18500.0, "employment_months": 52, "residence_months": 60,
            "id_verified": True, "face_match_score": 0.97,
        },
        "loan": {"amount": 50000.0, "term_months": 12},
        "bureau": {
            "score": 688, "monthly_debt": 2100.0, "inquiries_3m": 1, "inquiries_6m": 2,
            "delinquencies_12m": 0, "max_dpd_24m": 0, "open_loans": 2, "credit_utilisation": 0.31,
            "months_since_first_credit": 96, "bankruptcy": False, "court_judgements": 0,
        },
        "device": {"is_emulator": False, "ip_province_mismatch": False, "loan_apps_count": 2},
        "blacklist": {"hit": False},
        "multi_lending": {"platforms_30d": 1},
        "telecom": {"tenure_months": 120, "monthly_bill": 88.0, "real_name_verified": True},
        "ecommerce": {"spend_12m": 24000.0, "orders_12m": 160},
        "digital": {"game_level": 12, "followers": 85},
    }
