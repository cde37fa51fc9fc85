"""API key tokens: format, hashing, constant-time check, operator secrets."""

from __future__ import annotations

import pytest

from service.domain.keys import (
    PlaceholderSecretError,
    check_operator_secret,
    generate_token,
    hash_token,
    token_matches,
    token_prefix,
)


def test_generated_tokens_are_unique_and_prefixed() -> None:
    tokens = {generate_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert token.startswith("fg_") and token_prefix(token) == token.split(".")[0]
        assert len(token_prefix(token)) <= 16


def test_hash_matches_only_its_token() -> None:
    token = generate_token()
    stored = hash_token(token)
    assert token not in stored
    assert token_matches(token, stored)
    assert not token_matches(token[:-1] + ("A" if token[-1] != "A" else "B"), stored)


def test_operator_secret_gets_a_derived_prefix() -> None:
    secret = "k3P9-vQ2x_Lm8Rt7Zy4Wn6Hb1Jc5Fd0Gs"
    assert check_operator_secret(secret) == secret
    assert token_prefix(secret).startswith("op_") and len(token_prefix(secret)) <= 16


@pytest.mark.parametrize("secret", ["short", "changeme" * 5, "x" * 40, "my-admin-password-1234567890abcdefgh"])
def test_placeholders_are_refused(secret: str) -> None:
    with pytest.raises(PlaceholderSecretError):
        check_operator_secret(secret)


@pytest.mark.parametrize(
    "secret",
    [
        "fg_00000000." + "A" * 43,  # key-shaped, no randomness at all
        "fg_12345678." + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq",  # a run of the alphabet
        "fg_deadbeef." + "abc" * 14 + "a",  # a short pattern repeated
        "fg_deadbeef." + "AB" * 21 + "A",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop",
        "0123456789012345678901234567890123456789",
        "qwertyuiopqwertyuiopqwertyuiopqwertyuiop",
    ],
    ids=["zeros", "alphabet-token", "abc-token", "ab-token", "alphabet", "digits", "keyboard"],
)
def test_secrets_without_randomness_are_refused(secret: str) -> None:
    """The check accepted anything key-shaped (``fg_00000000.AAAA…``): it measures the randomness it claims."""
    with pytest.raises(PlaceholderSecretError, match="random"):
        check_operator_secret(secret)


def test_real_random_secrets_of_every_usual_kind_pass() -> None:
    """Generated tokens and what the usual tools print (openssl rand -hex 16 / -base64 24, token_urlsafe) pass,
    1000 times each: the estimate must not refuse honest secrets by bad luck."""
    import base64
    import secrets

    for _ in range(1000):
        for secret in (
            generate_token(),
            secrets.token_hex(16),
            base64.b64encode(secrets.token_bytes(24)).decode(),
            secrets.token_urlsafe(32),
        ):
            assert check_operator_secret(secret) == secret
