"""Kept face crops are encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``).

Crops are kept only when the operator opts in (to re-embed with a new model without re-enrolling); a database
dump then holds ciphertext, and the key lives outside the database (``FACEGATE_CROP_KEY``).
"""

from __future__ import annotations

import io

import numpy as np
from cryptography.fernet import Fernet, InvalidToken
from PIL import Image


class CropKeyError(ValueError):
    """The crop key is not a Fernet key, or a stored crop does not decrypt with it."""


class CropCipher:
    """Encrypts an aligned RGB crop as PNG inside a Fernet token, and back."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise CropKeyError("the crop key must be a Fernet key: urlsafe base64 of 32 random bytes") from exc

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, crop: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(crop, dtype=np.uint8), mode="RGB").save(buffer, format="PNG")
        return self._fernet.encrypt(buffer.getvalue())

    def decrypt(self, token: bytes) -> np.ndarray:
        try:
            data = self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise CropKeyError("a stored crop does not decrypt with this key") from exc
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
