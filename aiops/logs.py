"""Logging set-up: one line per record, key=value friendly, the same in every process.

Every handler masks credentials (aiops.redaction) in each record's message, arguments and
traceback before formatting it, so a token in an exception message or a connection URL
passed as an argument never reaches a log.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from aiops.redaction import redact_secrets

_TRACEBACKS = logging.Formatter()


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


def _install(redacting: RedactingFilter) -> None:
    """On the root's handlers and on those of loggers that keep their own (uvicorn's)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(redacting)


def configure_logging(process: str, level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or os.environ.get("AI_AGENTS_LOG_LEVEL", "INFO")).upper(),
        format=f"%(asctime)s %(levelname)s {process} %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # httpx logs every request URL at INFO; URLs can carry tenant identifiers and tokens.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    _install(RedactingFilter())
