"""Keyed pseudonyms (HMAC-SHA256 with a key id) and display masks."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fengkong.errors import FengkongError

_PREFIX = "pn1"
_TOKEN = re.compile(r"pn1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{27}")
_NOT_DIGIT = re.compile(r"\D")
_SPACE = re.compile(r"[\s\-]")
_KEY_ID = re.compile(r"[0-9a-f]{8}")
KEYS_ENV = "FENGKONG_PSEUDONYM_KEYS"
"""The variable that holds the pseudonym keys as JSON text (the key file's format)."""


class PseudonymKeyError(FengkongError):
    """The pseudonym keys (file or variable) are unreadable or malformed."""


def normalise(kind: str, value: str) -> str:
    """The canonical form of an identifier, so one person gets one pseudonym.

    >>> normalise("id_card", "11010519491231002x")
    '11010519491231002X'
    >>> normalise("phone", "+86 138-0013-8000")
    '13800138000'
    >>> normalise("bank_card", "6222 0200 1234 5678")
    '6222020012345678'
    """
    if kind == "id_card":
        return _SPACE.sub("", value).upper()
    if kind == "phone":
        digits = _NOT_DIGIT.sub("", value)
        return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits
    if kind == "bank_card":
        return _NOT_DIGIT.sub("", value)
    if kind == "email":
        return value.strip().lower()
    return " ".join(value.split())


def mask(kind: str, value: str) -> str:
    """A display mask that keeps only what a person needs to recognise the value.

    >>> mask("id_card", "110105194912310021")
    '110105********0021'
    >>> mask("phone", "13800138000")
    '138****8000'
    >>> mask("bank_card", "6222020012345678")
    '************5678'
    >>> mask("name", "张三丰")
    '张**'
    """
    v = normalise(kind, value)
    if kind == "id_card":
        keep = (6, 4) if len(v) >= 15 else (1, 1)
    elif kind == "phone":
        keep = (3, 4) if len(v) >= 11 else (0, 2)
    elif kind == "bank_card":
        keep = (0, 4)
    elif kind == "name":
        keep = (1, 0)
    elif kind == "email" and "@" in v:
        local, domain = v.split("@", 1)
        return f"{local[:1]}***@{domain}"
    else:
        return "*" * min(len(v), 8)
    head, tail = keep
    if len(v) <= head + tail:
        return "*" * len(v)
    return v[:head] + "*" * (len(v) - head - tail) + (v[len(v) - tail:] if tail else "")


def is_pseudonym(value: object) -> bool:
    """Whether ``value`` is a pseudonym this module made (of any key)."""
    return type(value) is str and _TOKEN.fullmatch(value) is not None


@dataclass(frozen=True)
class PseudonymKeys:
    """The keys pseudonyms are made with: the current one, and older ones kept for reference.

    A pseudonym is ``pn1.<key id>.<27 characters>``: the first 160 bits of
    ``HMAC-SHA256(key, key id \\x1f scope \\x1f kind \\x1f normalised value)`` in URL-safe
    base64. The namespace, ``scope`` (the tenant) and ``kind``, keeps two institutions'
    pseudonyms of one person, and a phone and a card number that happen to share digits,
    apart. The key id is hashed too, so a token cannot be passed off as another key's.

    Keys rotate by key id: :meth:`rotated` adds a new current key and keeps the old ones,
    and :meth:`pseudonyms` gives a value's token under every key (current first), so a
    lookup of records keyed by pseudonym (consents) still finds those made before.

    >>> keys = PseudonymKeys.generate()
    >>> t = keys.pseudonym("phone", "138 0013 8000", scope="bank_a")
    >>> t == keys.pseudonym("phone", "13800138000", scope="bank_a")
    True
    >>> t == keys.pseudonym("phone", "13800138000", scope="bank_b")
    False
    >>> is_pseudonym(t)
    True
    >>> new = keys.rotated()
    >>> new.pseudonyms("phone", "13800138000", scope="bank_a")[1] == t
    True
    """

    current: str
    secrets: Mapping[str, bytes]

    @classmethod
    def generate(cls) -> PseudonymKeys:
        """A new random key."""
        secret = secrets.token_bytes(32)
        return cls(_key_id(secret), {_key_id(secret): secret})

    @classmethod
    def load_or_create(cls, path: Path) -> PseudonymKeys:
        """Read the key file, creating it (mode 0600) with a new key if it does not exist."""
        if not path.exists():
            keys = cls.generate()
            keys.save(path)
            return keys
        try:
            text = path.read_text("utf-8")
        except (OSError, ValueError) as e:
            msg = f"{path}: not a pseudonym key file ({type(e).__name__})."
            raise PseudonymKeyError(msg) from None
        return cls.parse(text, where=str(path))

    @classmethod
    def load(cls, path: Path, text: str | None = None) -> PseudonymKeys:
        """The keys in ``text`` (the value of ``$FENGKONG_PSEUDONYM_KEYS``) when given,
        else those of the key file at ``path`` (created if it does not exist)."""
        if text:
            return cls.parse(text, where=f"${KEYS_ENV}")
        return cls.load_or_create(path)

    @classmethod
    def parse(cls, text: str, *, where: str) -> PseudonymKeys:
        """Keys from the key file's JSON, ``{"current": kid, "keys": {kid: base64}}``.

        Errors name ``where`` (the file or the variable), never the key material.
        """
        try:
            doc = json.loads(text)
            found = {str(kid): base64.b64decode(s, validate=True) for kid, s in doc["keys"].items()}
            current = doc["current"]
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            msg = f"{where}: not a pseudonym key set ({type(e).__name__})."
            raise PseudonymKeyError(msg) from None
        if not all(_KEY_ID.fullmatch(kid) for kid in found):
            msg = f"{where}: key ids must be 8 lower-case hex digits (pseudonyms carry them)."
            raise PseudonymKeyError(msg)
        short = sorted(kid for kid, secret in found.items() if len(secret) < 32)
        if short:
            msg = f"{where}: key(s) {', '.join(short)} are shorter than 32 bytes."
            raise PseudonymKeyError(msg)
        if type(current) is not str or current not in found:
            # Only a key id is named: anything else might be key material in the wrong place.
            named = f" {current!r}" if type(current) is str and _KEY_ID.fullmatch(current) else ""
            msg = f"{where}: `current` names key{named}, which is not among its keys."
            raise PseudonymKeyError(msg)
        return cls(current, found)

    def save(self, path: Path) -> None:
        """Write the key file atomically, readable by its owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a leftover file
                fh.write(self.to_json())
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(path)

    def rotated(self) -> PseudonymKeys:
        """These keys with a new random current key; the old ones are kept for lookups."""
        while True:
            secret = secrets.token_bytes(32)
            kid = _key_id(secret)
            if kid not in self.secrets:  # 32-bit ids: a clash is unlikely, never fatal
                return PseudonymKeys(kid, {kid: secret, **self.secrets})

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, the current one first (never the key material)."""
        return (self.current, *(kid for kid in self.secrets if kid != self.current))

    def to_json(self) -> str:
        """The key file's JSON (key material: give it only to a file or a secret manager)."""
        return json.dumps({"current": self.current,
                           "keys": {k: base64.b64encode(self.secrets[k]).decode()
                                    for k in self.key_ids}})

    def pseudonym(self, kind: str, value: str, *, scope: str = "") -> str:
        """The pseudonym of one identifier under the current key."""
        return self._token(self.current, kind, normalise(kind, value), scope)

    def pseudonyms(self, kind: str, value: str, *, scope: str = "") -> tuple[str, ...]:
        """The pseudonyms of one identifier under every key, the current key's first.

        What a lookup of records keyed by pseudonym uses after a rotation: the person's
        records made under an older key carry that key's token.
        """
        v = normalise(kind, value)
        return tuple(self._token(kid, kind, v, scope) for kid in self.key_ids)

    def _token(self, kid: str, kind: str, normalised: str, scope: str) -> str:
        mac = self._macs[kid].copy()  # the keyed state is set up once per key, not per value
        mac.update(f"{kid}\x1f{scope}\x1f{kind}\x1f{normalised}".encode())
        digest = mac.digest()[:20]
        return f"{_PREFIX}.{kid}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"

    @functools.cached_property
    def _macs(self) -> dict[str, hmac.HMAC]:
        return {kid: hmac.new(s, digestmod=hashlib.sha256) for kid, s in self.secrets.items()}

    def __repr__(self) -> str:  # never the key material
        return f"PseudonymKeys(current={self.current!r}, key_ids={self.key_ids!r})"


def _key_id(secret: bytes) -> str:
    return hashlib.sha256(b"fengkong-pseudonym-key\x00" + secret).hexdigest()[:8]
