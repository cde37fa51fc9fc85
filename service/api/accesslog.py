"""Keys sent in a URL (``?key=fg_…``, a token pasted into a path) are refused, but the server's access log wrote
the URL down: :class:`RedactSecrets` rewrites each access-log record before any handler sees it.

What is redacted: anything shaped like a facegate token (its public prefix is kept) and the value of any query
parameter whose name says it is a credential (key, token, api_key, access_token, auth, secret, password...).
"""

from __future__ import annotations

import logging
import re
from typing import Final

ACCESS_LOGGER: Final = "uvicorn.access"
REDACTED: Final = "<redacted>"
_TOKEN: Final = re.compile(r"(fg_[0-9a-f]{8})\.[A-Za-z0-9_-]+")
_CREDENTIAL_PARAM: Final = re.compile(
    r"(?i)([?&;](?:api[_-]?key|key|token|access[_-]?token|auth|authorization|secret|password|bearer)=)[^&;#\s]*"
)


def redact(text: str) -> str:
    """``text`` with tokens and credential query values replaced by ``<redacted>``."""
    return _CREDENTIAL_PARAM.sub(rf"\1{REDACTED}", _TOKEN.sub(rf"\1.{REDACTED}", text))


class RedactSecrets(logging.Filter):
    """Redact the message and every string argument of a record (uvicorn passes the path as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def install_access_log_redaction() -> None:
    """Put :class:`RedactSecrets` on uvicorn's access logger (once per process)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())
