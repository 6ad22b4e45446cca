"""With an OTLP endpoint configured, the ingest process exports its spans, as the API and
the flow do: a webhook's trace then starts at ingest in the collector too."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.fakes.loopback import LoopbackServer

REPO = Path(__file__).resolve().parents[2]

# The ingest factory as uvicorn calls it (settings from the environment), then one span
# through the helpers the webhook path uses; the SDK exports what is left at exit.
_PROCESS = """
from aiops.tracing import current_span, tracing_on
from ingest.app import create_app

create_app()
assert tracing_on(), "the ingest factory set no tracer provider"
with current_span("ingest webhook probe"):
    pass
"""


class OtlpCollector(LoopbackServer):
    """Takes OTLP/HTTP exports (protobuf), keeping each request's path and body."""

    def __init__(self) -> None:
        super().__init__()
        self.exports: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._root_url()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with collector._lock:
                    collector.exports.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def test_the_ingest_process_exports_its_spans_to_the_configured_endpoint(
    tmp_path: Path,
) -> None:
    with OtlpCollector() as collector:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "AI_AGENTS_OTLP_ENDPOINT": collector.url,
            "AI_AGENTS_STATE_DIR": str(tmp_path),
        }
        done = subprocess.run(
            [sys.executable, "-c", _PROCESS], cwd=REPO, env=env, capture_output=True, timeout=60
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert [path for path, _ in collector.exports] == ["/v1/traces"]
    body = collector.exports[0][1]
    assert b"aiops-ingest" in body and b"ingest webhook probe" in body
