"""Keep secrets out of what datagen prints: URL userinfo and the values of secret-looking settings."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

HIDDEN = "***"
# substrings of librdkafka / schema-registry keys whose values are credentials (or may embed them):
# sasl.password, ssl.key.password, ssl.key.pem, sasl.oauthbearer.client.secret, sasl.jaas.config,
# schema.registry.basic.auth.user.info, bearer.auth.token, ... ("key" also hides ssl.key.location: harmless)
SECRET_WORDS = ("password", "secret", "token", "key", "credential", "user.info", "userinfo", "jaas", "oauthbearer")
# `user:pass@` right after a scheme, at the start, or after a list separator; up to the last `@` of the authority
_USERINFO = re.compile(r"(^|[,\s]|://)[^/?#\s]*@")
_FLAG_KEY = re.compile(r"[A-Za-z0-9._-]*")


def is_secret_key(key: str) -> bool:
    """True if the setting `key` looks like it holds a credential."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def safe_url(url: str) -> str:
    """`url` (or a comma-separated list of them) without `user:password@`; scheme, host, port and path kept."""
    return _USERINFO.sub(r"\1", url)


def redact_conf(conf: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a client config that is safe to log: secret values hidden, URL credentials dropped."""
    return {k: HIDDEN if is_secret_key(k) else safe_url(v) if isinstance(v, str) else v for k, v in conf.items()}


def redact_values(text: str, conf: Mapping[str, Any]) -> str:
    """`text` (a library's error message) with every secret value of `conf` hidden and URL credentials dropped."""
    secrets: Iterable[str] = (str(v) for k, v in conf.items() if is_secret_key(k) and str(v))
    for secret in sorted(secrets, key=len, reverse=True):  # longest first: one secret may contain another
        text = text.replace(secret, HIDDEN)
    return safe_url(text)


def redact_flag(text: str) -> str:
    """A malformed `-X` argument as it may be echoed: all but the key hidden when it looks secret (or has no key)."""
    key = _FLAG_KEY.match(text)
    name = key.group(0) if key else ""
    rest = text[len(name) :]
    if not rest or not (is_secret_key(text) or not name):
        return text
    separator = rest[0] if rest[0] in ":= \t" else ""
    return f"{name}{separator}{HIDDEN}"


class SafeFormatter(logging.Formatter):
    """A log formatter that drops URL credentials from every line, whichever library wrote it."""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record with `user:password@` removed from any URL in it."""
        return safe_url(super().format(record))


class JsonLogFormatter(logging.Formatter):
    """Log records as one JSON object a line (`--log-format json`), URL credentials removed like SafeFormatter."""

    converter = staticmethod(time.gmtime)  # UTC, as the progress lines' ts

    def format(self, record: logging.LogRecord) -> str:
        """ts, level, logger and message (and the exception, if any) as JSON."""
        fields = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%SZ"),
            "level": record.levelname,
            "logger": record.name,
            "message": safe_url(record.getMessage()),
        }
        if record.exc_info:
            fields["exception"] = safe_url(self.formatException(record.exc_info))
        return json.dumps(fields)
