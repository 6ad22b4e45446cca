"""The secret a webhook URL carries, for ITSMs that can neither sign a body nor add a header
(ConnectWise PSA callbacks). Ingest hands the URL's `token` query parameter to the plugin's
verify() under URL_TOKEN_HEADER, so plugins keep one signature: verify(headers, body, ...).
Log lines mask it: aiops.redaction masks `token=` in URLs."""

from __future__ import annotations

from urllib.parse import parse_qsl

URL_TOKEN_HEADER = "x-aiops-url-token"
URL_TOKEN_PARAMETER = "token"


def with_url_token(headers: dict[str, str], query_string: bytes) -> dict[str, str]:
    """`headers` plus the URL's token (the last one, as for ?tenant=), if it has one."""
    if URL_TOKEN_PARAMETER.encode() not in query_string:
        return headers
    found = [
        value
        for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        if name == URL_TOKEN_PARAMETER
    ]
    if found:
        headers[URL_TOKEN_HEADER] = found[-1]
    return headers
