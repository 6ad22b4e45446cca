"""Logging set-up: one line per record, key=value friendly, the same in every process."""

from __future__ import annotations

import logging
import os
import sys


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
