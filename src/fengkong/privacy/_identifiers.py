"""Checks of direct identifiers at ingress, before they are replaced by pseudonyms.

A malformed identifier would still get a pseudonym, one that matches nobody: the
customer would silently miss their blacklist hit, their credit history and their
experiment arm. So raw values are checked against the identifier's own rules.
"""

from __future__ import annotations

import datetime as dt
import re

from fengkong.privacy._pseudonym import normalise

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"[1-9]\d{16}[\dX]")
_MOBILE = re.compile(r"(\+?86)?1[3-9]\d{9}")
_PHONE_PUNCTUATION = re.compile(r"[\s()\-]")
_CARD = re.compile(r"\d{12,19}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")

RULES = {
    "id_card": "a resident identity number (GB 11643-1999: 18 characters, a real birth date, "
               "a correct check character)",
    "bank_card": "a bank card number (12 to 19 digits with a correct Luhn check digit)",
    "phone": "a mainland mobile number (11 digits starting with 13 to 19, optionally after +86)",
    "email": "an email address (name@domain.tld)",
}


def id_check_character(first17: str) -> str:
    """The GB 11643-1999 check character (ISO 7064 MOD 11-2) of the first 17 digits.

    >>> id_check_character("11010519491231002")
    'X'
    """
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def valid_resident_id(value: str, *, today: dt.date | None = None) -> bool:
    """Whether ``value`` (normalised) is a well-formed 18-character resident ID number.

    First-generation 15-digit numbers (no check character, invalid since 2013) are
    refused: a caller converts them, which needs the century and a check character.

    >>> valid_resident_id("11010519491231002X"), valid_resident_id("110105194912310021")
    (True, False)
    """
    if not _ID_SHAPE.fullmatch(value) or id_check_character(value[:17]) != value[17]:
        return False
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= birth <= (today or dt.date.today())


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check.

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def identifier_ok(kind: str, value: str) -> bool:
    """Whether a raw identifier of ``kind`` is well formed (kinds without rules always are)."""
    v = normalise(kind, value)
    if kind == "id_card":
        return valid_resident_id(v)
    if kind == "bank_card":
        return _CARD.fullmatch(v) is not None and luhn_ok(v)
    if kind == "phone":
        # normalise() keeps only the digits, so "+1 415..." would pass: look at the raw text.
        return _MOBILE.fullmatch(_PHONE_PUNCTUATION.sub("", value)) is not None
    if kind == "email":
        return len(v) <= 254 and _EMAIL.fullmatch(v) is not None
    return True
