"""Personal data: keyed pseudonyms at ingress and masking for display.

Identifiers (ID card number, phone, name, bank card, ...) are replaced by
``HMAC-SHA256`` pseudonyms before a strategy sees them, so the decision log never
holds them in clear. A pseudonym names the key that made it, so keys can be rotated
while old records stay readable as what they are. Whole tables (back-tests) are
pseudonymised the same way, per distinct value (:func:`evaluate_batch_pseudonymised`).
"""

from fengkong.privacy._batch import (
    PseudonymisedFrame,
    evaluate_batch_pseudonymised,
    pseudonymise_frame,
)
from fengkong.privacy._ingress import pseudonymise_record, pseudonymise_value
from fengkong.privacy._pseudonym import PseudonymKeys, is_pseudonym, mask, normalise

__all__ = ["PseudonymKeys", "PseudonymisedFrame", "evaluate_batch_pseudonymised", "is_pseudonym",
           "mask", "normalise", "pseudonymise_frame", "pseudonymise_record", "pseudonymise_value"]
