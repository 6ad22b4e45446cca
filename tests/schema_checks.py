"""What both apps' fuzz tests share: the checks answers are held to, and how Hypothesis
drives the generated cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# No 5xx, and every answer as documented: status, content type, body schema, headers.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def fuzz_settings(max_examples: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Repeatable runs (derandomized, no example database) of generation only: a failure
    is reported as found, not shrunk, which keeps the suite's time bounded."""
    return hypothesis_settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
