"""Structured logs: one JSON object per line (production), and secrets masked in every format.

`DJANGO_LOG_FORMAT=json` (the default outside debug) writes lines a log shipper reads without a
parser of its own; `plain` is for people at a terminal. Whatever the format, `RedactSecrets`
masks bearer tokens, webhook signatures and `token=`/`secret=`/`password=` values before a record
is written, so a careless message or a third-party library never puts a credential in the logs.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

MASK = "[redacted]"
# What a credential looks like inside free text: an Authorization header's value, a signature
# header, or a key=value / "key": "value" pair whose key names a secret.
_SECRET_PATTERNS = (
    re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)\bsha(?:1|256)=[0-9a-f]{16,}"),
    re.compile(
        r"""(?ix)
        (["']?\b[\w-]*(?:token|secret|password|passwd|api[_-]?key|signature|authorization|dsn)\b["']?
         \s*[:=]\s*["']?)
        ([^\s"'&,;}]+)
        """
    ),
)


def redact(text: str) -> str:
    """The text with every credential-shaped value replaced by a mask."""
    text = _SECRET_PATTERNS[0].sub(lambda match: f"{match.group(1)} {MASK}", text)
    text = _SECRET_PATTERNS[1].sub(MASK, text)
    return _SECRET_PATTERNS[2].sub(lambda match: f"{match.group(1)}{MASK}", text)


class RedactSecrets(logging.Filter):
    """Masks credentials in a record's message and arguments (attached to every handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem to report, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Tracebacks can quote a request's headers; format them now, masked.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JSONFormatter(JsonFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, extras, exception.

    python-json-logger writes the line; this names its fields as our log shipper reads them,
    dates each line to the millisecond in UTC, and masks credentials in tracebacks (`redact`).
    """

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message", "process"],
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
            # An extra passed under one of our own fields' names never overwrites that field.
            reserved_attrs=[*RESERVED_ATTRS, "taskName", "time", "level", "logger", "exception"],
            json_ensure_ascii=False,
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        if exception := log_data.pop("exception", None):
            log_data["exception"] = redact(exception)  # last, after the extras, as a reader expects
        return log_data


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING setting: console output in the chosen format, secrets masked."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "baloo_site.logging.RedactSecrets"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "baloo_site.logging.JSONFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if log_format == "json" else "plain",
                "filters": ["redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
    }
