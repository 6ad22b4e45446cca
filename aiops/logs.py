"""Logging set-up: one line per record, the same in every process.

Text by default; AI_AGENTS_LOG_FORMAT=json writes one JSON object per line (timestamp,
level, process, logger, message, and tenant_id / event_id where known) for a log pipeline.
The ids come from `log_context` (set by ingest per request and by the flow per event) or
from a record's `extra`.

Every handler masks credentials (aiops.redaction) in each record's message, arguments and
traceback before formatting it, so a token in an exception message or a connection URL
passed as an argument never reaches a log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from aiops.redaction import redact_secrets

_TRACEBACKS = logging.Formatter()
_CONTEXT_KEYS = ("tenant_id", "event_id")
_context: ContextVar[dict[str, str]] = ContextVar("aiops_log_context", default={})  # noqa: B039
FORMATS = ("text", "json")


def bind_log_context(**fields: str | None) -> None:
    """Ids for the rest of this task's records (an asyncio task per request: no reset)."""
    # A loop rather than a dict comprehension merged in: ingest binds twice per webhook.
    bound = _context.get().copy()
    for key, value in fields.items():
        if value:
            bound[key] = value
    _context.set(bound)


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Ids for the records made inside the block (a worker thread handling one event)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


class JsonLines(logging.Formatter):
    """One JSON object per record; RedactingFilter has masked it before it gets here."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        document: dict[str, Any] = {
            "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "process": self._process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        known = _context.get()
        for key in _CONTEXT_KEYS:
            value = getattr(record, key, None) or known.get(key)
            if value:
                document[key] = str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = record.stack_info
        return json.dumps(document, ensure_ascii=False, default=str)


def _masked_argument(value: Any) -> Any:
    """Strings masked; another object replaced by its masked text only if that hid something,
    so numbers stay numbers for %d and formatters that unpack the arguments keep working."""
    if isinstance(value, str):
        return redact_secrets(value)
    if value is None or isinstance(value, int | float):
        return value
    text = str(value)
    masked = redact_secrets(text)
    return value if masked == text else masked


class RedactingFilter(logging.Filter):
    """Rewrites the record in place: the handlers after it see the masked form too.

    The message and each argument are masked separately, and kept apart unless the rendered
    message still shows a secret: some formatters read the arguments themselves (uvicorn's
    access log unpacks them).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_secrets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked_argument(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _masked_argument(v) for k, v in record.args.items()}
        try:
            message = record.getMessage()
        except Exception:
            message = None  # arguments that do not fit the format: logging reports that
        if message is not None and record.args:
            masked = redact_secrets(message)
            if masked != message:
                # A secret only the rendered message shows ("token=%s" % key): render it.
                record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_secrets(record.stack_info)
        return True


def _install(redacting: RedactingFilter, formatter: logging.Formatter | None) -> None:
    """On the root's handlers and on those of loggers that keep their own (uvicorn's)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(redacting)
            if formatter is not None:
                handler.setFormatter(formatter)


def configure_logging(process: str, level: str = "INFO", format: str = "text") -> None:
    """`level` and `format` as Settings.log_level and Settings.log_format give them."""
    if format not in FORMATS:
        raise ValueError(f"AI_AGENTS_LOG_FORMAT={format!r}: use one of {', '.join(FORMATS)}")
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s {process} %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # httpx logs every request URL at INFO; URLs can carry tenant identifiers and tokens.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    _install(RedactingFilter(), JsonLines(process) if format == "json" else None)
