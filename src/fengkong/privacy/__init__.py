"""Personal data: keyed pseudonyms at ingress and masking for display.

Identifiers (ID card number, phone, name, bank card, ...) are replaced by
``HMAC-SHA256`` pseudonyms before a strategy sees them, so the decision log never
holds them in clear. A pseudonym names the key that made it, so keys can be rotated
while old records stay readable as what they are.
"""

from fengkong.privacy._ingress import pseudonymise_record
from fengkong.privacy._pseudonym import PseudonymKeys, is_pseudonym, mask, normalise

__all__ = ["PseudonymKeys", "is_pseudonym", "mask", "normalise", "pseudonymise_record"]
