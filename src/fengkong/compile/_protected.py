"""Attributes a credit decision may not use: prohibited categories per market, and C3 data.

An input is refused when its declared ``category`` is prohibited in the strategy's
``market`` or is C3 authentication data, or when its name says it holds such data
(any dotted segment, as whole snake_case words, English or pinyin). Only the name
test can be overridden (``allow_name: true`` with a ``reason``). Sources of the lists
are in docs/strategy-format.md, "Protected data".
"""

from __future__ import annotations

from collections.abc import Mapping

# C3 (JR/T 0171-2020, 5.2): authentication data whose leak directly harms the customer.
C3: frozenset[str] = frozenset({"password", "verification_code", "card_security_code",
                                "biometric", "fingerprint"})

# Categories a credit decision may not use, by market (C3 is refused everywhere besides).
PROHIBITED: Mapping[str, frozenset[str]] = {
    # Regulation on the Administration of Credit Investigation Industry (2013) art. 14;
    # PIPL arts. 24, 28: religion, genes, fingerprints, blood type, disease, biometrics,
    # "specific identity" (ethnicity, race), political opinion, sexual orientation.
    "cn": frozenset({"religion", "ethnicity", "race", "genetic", "biometric", "fingerprint",
                     "blood_type", "health", "political_opinion", "sexual_orientation"}),
    # ECOA 15 U.S.C. 1691(a) and Regulation B 12 CFR 1002.5-1002.6 (race, color, religion,
    # national origin, sex incl. sexual orientation, marital status); FCRA 15 U.S.C.
    # 1681b(g) and Regulation V 12 CFR 1022.30 (medical information). Age is permitted
    # with restrictions (12 CFR 1002.6(b)(2)), so it is not listed.
    "us": frozenset({"religion", "ethnicity", "race", "national_origin", "sex",
                     "sexual_orientation", "marital_status", "genetic", "health", "blood_type",
                     "biometric", "fingerprint"}),
    # GDPR art. 9(1) special categories, which Directive (EU) 2023/2225 art. 18(3) keeps
    # out of creditworthiness assessments.
    "eu": frozenset({"religion", "ethnicity", "race", "political_opinion", "trade_union",
                     "genetic", "biometric", "fingerprint", "blood_type", "health",
                     "sexual_orientation"}),
}

# Name words (English and pinyin) and the category they reveal. A key of several words
# matches those words in a row within one dotted segment.
_NAMES: Mapping[tuple[str, ...], str] = {
    **dict.fromkeys([("religion",), ("religious",), ("faith",), ("zongjiao",)], "religion"),
    **dict.fromkeys([("ethnicity",), ("ethnic",), ("nation",), ("minzu",)], "ethnicity"),
    **dict.fromkeys([("race",), ("racial",), ("zhongzu",)], "race"),
    **dict.fromkeys([("nationality",), ("national", "origin"), ("guoji",)], "national_origin"),
    **dict.fromkeys([("dna",), ("gene",), ("genes",), ("genetic",), ("genome",),
                     ("jiyin",)], "genetic"),
    **dict.fromkeys([("fingerprint",), ("fingerprints",), ("zhiwen",)], "fingerprint"),
    **dict.fromkeys([("biometric",), ("biometrics",), ("face", "template"),
                     ("face", "embedding"), ("face", "feature"), ("face", "features"),
                     ("iris",), ("hongmo",), ("voiceprint",), ("shengwen",), ("palmprint",)],
                    "biometric"),
    **dict.fromkeys([("blood", "type"), ("blood", "group"), ("xuexing",)], "blood_type"),
    **dict.fromkeys([("disease",), ("diseases",), ("diagnosis",), ("medical",), ("illness",),
                     ("jibing",), ("bingshi",)], "health"),
    **dict.fromkeys([("political",), ("zhengzhi",)], "political_opinion"),
    **dict.fromkeys([("sexual", "orientation"), ("xingquxiang",)], "sexual_orientation"),
    **dict.fromkeys([("trade", "union"), ("labour", "union"), ("labor", "union")],
                    "trade_union"),
    **dict.fromkeys([("sex",), ("gender",), ("xingbie",)], "sex"),
    **dict.fromkeys([("marital",), ("hunyin",)], "marital_status"),
    **dict.fromkeys([("password",), ("passwd",), ("pwd",), ("mima",), ("pin",)], "password"),
    **dict.fromkeys([("otp",), ("sms", "code"), ("verification", "code"), ("verify", "code"),
                     ("yanzhengma",)], "verification_code"),
    **dict.fromkeys([("cvv",), ("cvv2",), ("cvc",), ("cvn",), ("security", "code")],
                    "card_security_code"),
}

_LABELS = {
    "religion": "religious belief", "ethnicity": "ethnicity", "race": "race",
    "national_origin": "national origin", "genetic": "genetic data",
    "biometric": "biometric data", "fingerprint": "fingerprints", "blood_type": "blood type",
    "health": "health or disease data", "political_opinion": "political opinion",
    "sexual_orientation": "sexual orientation", "trade_union": "trade union membership",
    "sex": "sex or gender", "marital_status": "marital status", "password": "a password or PIN",
    "verification_code": "a verification code", "card_security_code": "a card security code",
}


def category_from_name(name: str) -> str | None:
    """The refusable category a field name reveals, if any.

    >>> category_from_name("applicant.minzu"), category_from_name("kyc.blood_type_code")
    ('ethnicity', 'blood_type')
    >>> category_from_name("applicant.general_score") is None
    True
    """
    for segment in name.split("."):
        words = segment.split("_")
        for n in (2, 1):
            for i in range(len(words) - n + 1):
                found = _NAMES.get(tuple(words[i:i + n]))
                if found is not None:
                    return found
    return None


def refusal(category: str, market: str) -> tuple[str, str] | None:
    """``(code, why)`` when ``category`` may not be an input in ``market``, else None."""
    label = _LABELS.get(category, category)
    if category in C3:
        return "c3-data", (f"holds {label}, C3 authentication data (JR/T 0171), which a "
                           "strategy may never receive")
    if category in PROHIBITED[market]:
        return "prohibited-attribute", (f"holds {label}, which credit decisions in market "
                                        f"`{market}` may not use")
    return None
