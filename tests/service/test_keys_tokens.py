"""API key tokens: format, hashing, constant-time check, operator secrets."""

from __future__ import annotations

import pytest

from service.core.keys import (
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
