"""What a process's root log handler writes with AI_AGENTS_LOG_FORMAT=json."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

import pytest

from aiops.logs import configure_logging
from aiops.settings import Settings


@contextlib.contextmanager
def json_log_lines(
    monkeypatch: pytest.MonkeyPatch, process: str, level: int | None = None
) -> Iterator[io.StringIO]:
    """Logging set up as `process` sets it up from the settings; restored afterwards."""
    root = logging.getLogger()
    handlers, before = root.handlers[:], root.level
    monkeypatch.setenv("AI_AGENTS_LOG_FORMAT", "json")
    settings = Settings()
    configure_logging(process, settings.log_level, settings.log_format)
    written = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)
    if level is not None:
        root.setLevel(level)
    try:
        yield written
    finally:
        root.handlers[:], root.level = handlers, before
