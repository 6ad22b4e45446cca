"""The schemathesis checks both apps' fuzz tests hold their answers to."""

from __future__ import annotations

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
