"""API key tokens: generation, the stored hash, constant-time verification. No SQL, no HTTP.

A token reads ``fg_<8 hex>.<43 url-safe chars>``: the part before the dot is the *prefix*, stored in clear to find
the row and to name the key in listings and logs; the whole token is hashed. Tokens carry 256 random bits, so a
fast keyed hash is the right tool (a slow password hash protects low-entropy secrets, which these are not); the
HMAC key only separates this use of SHA-256 from any other.

Operators may also hand the service a secret of their own (the first admin key, from an environment variable or
a Docker secret): any string of at least :data:`MIN_OPERATOR_SECRET_LENGTH` characters that is not a
placeholder and whose estimated randomness (:func:`estimated_entropy_bits`) reaches
:data:`MIN_OPERATOR_SECRET_BITS`; a key-shaped secret is judged on its secret part. Its prefix is derived from its
hash.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import re
import secrets
from collections import Counter
from collections.abc import Sequence
from typing import Final

TOKEN_PREFIX: Final = "fg_"
MIN_OPERATOR_SECRET_LENGTH: Final = 32
# A floor that catches patterns, not a proof of randomness (English text scores high too). Measured: `openssl rand
# -hex 16` (128 random bits; the estimate undercounts short strings) scored 86 at worst in 200,000 draws, base64
# 24 bytes 125, generated tokens 184; AAAA…, abcd…, abc × 14, qwertyuiop × 4, a1b2c3… scored 0-31.
MIN_OPERATOR_SECRET_BITS: Final = 64
_TOKEN_RE: Final = re.compile(r"^fg_[0-9a-f]{8}\.[A-Za-z0-9_-]{43}$")
_HASH_KEY: Final = b"facegate/api-key/v1"
# Secrets that appear in examples and templates; a service started with one of them would be open to anyone.
_PLACEHOLDERS: Final = frozenset({"changeme", "change-me", "change_me", "secret", "password", "admin", "example"})


class PlaceholderSecretError(ValueError):
    """An operator-given secret is a placeholder or too short to be safe."""


def generate_token() -> str:
    """A new random token."""
    return f"{TOKEN_PREFIX}{secrets.token_hex(4)}.{secrets.token_urlsafe(32)}"


def token_prefix(token: str) -> str:
    """The stored, non-secret prefix of ``token`` (at most 16 characters)."""
    if _TOKEN_RE.match(token):
        return token.split(".", 1)[0]
    return "op_" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


def hash_token(token: str) -> str:
    """The hex digest that is stored instead of the token."""
    return hmac.new(_HASH_KEY, token.encode("utf-8"), hashlib.sha256).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Whether ``token`` hashes to ``stored_hash``, in time independent of where they differ."""
    return hmac.compare_digest(hash_token(token), stored_hash)


def estimated_entropy_bits(text: str) -> float:
    """A conservative estimate of the random bits in ``text``: its length × the smaller of the empirical entropy
    of its characters and of the steps between neighbours (an alphabet run has varied characters but one step),
    scaled by the share of its 3-character substrings that are distinct (a repeated pattern has few).

    Random strings score near their true entropy (hex ≈ 3.7, base64 ≈ 4.6-4.9 bits a character for 32-43
    characters); ``AAAA…``, ``abcd…``, ``qwertyuiop`` × 4 or ``abc`` × 14 score far below
    :data:`MIN_OPERATOR_SECRET_BITS`.
    """
    n = len(text)
    if n < 3:
        return 0.0
    steps = [ord(b) - ord(a) for a, b in itertools.pairwise(text)]
    per_char = min(_entropy(text), _entropy(steps))
    trigrams = [text[i : i + 3] for i in range(n - 2)]
    return per_char * n * len(set(trigrams)) / len(trigrams)


def _entropy(symbols: Sequence[object]) -> float:
    counts = Counter(symbols)
    total = len(symbols)
    return -sum(count / total * math.log2(count / total) for count in counts.values())


def check_operator_secret(secret: str) -> str:
    """``secret`` stripped, or :class:`PlaceholderSecretError` when it is short, a known placeholder, or not random
    enough (a key-shaped secret: its part after the dot; the prefix is public)."""
    value = secret.strip()
    if _TOKEN_RE.match(value):
        _check_randomness(value.split(".", 1)[1])
        return value
    lowered = value.lower()
    if len(value) < MIN_OPERATOR_SECRET_LENGTH:
        raise PlaceholderSecretError(
            f"the secret has {len(value)} characters; at least {MIN_OPERATOR_SECRET_LENGTH} are required"
        )
    if any(word in lowered for word in _PLACEHOLDERS) or len(set(value)) < 8:
        raise PlaceholderSecretError("the secret looks like a placeholder; generate one (facegate keys create)")
    _check_randomness(value)
    return value


def _check_randomness(secret: str) -> None:
    bits = estimated_entropy_bits(secret)
    if bits < MIN_OPERATOR_SECRET_BITS:
        raise PlaceholderSecretError(
            f"the secret does not look random (about {bits:.0f} random bits estimated, at least "
            f"{MIN_OPERATOR_SECRET_BITS} needed); generate one (facegate keys create, or openssl rand -base64 32)"
        )
