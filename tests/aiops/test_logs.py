"""configure_logging masks credentials in every record, whatever handler writes it."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from aiops.logs import bind_log_context, configure_logging, log_context
from aiops.settings import Settings

TOKEN = "ghp_" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa"
DSN = "postgresql://aiops:Pg-S3cret-77@db01:5432/aiops"


@pytest.fixture()
def stderr(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """What configure_logging's handler writes; the logging set-up is restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield capsys
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:], root.level = handlers, level


def test_secrets_in_messages_arguments_and_tracebacks_are_masked(
    stderr: pytest.CaptureFixture[str],
) -> None:
    configure_logging("test")
    log = logging.getLogger("tests.logs")

    log.warning("connecting to %s with token %s", DSN, TOKEN)
    log.info("ticket text: password: Hunter2!")
    try:
        raise RuntimeError(f"upstream refused Authorization: Bearer {TOKEN}")
    except RuntimeError:
        log.exception("call failed")
    log.warning("stack here, key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", stack_info=True)

    out = stderr.readouterr().err
    for secret in (TOKEN, "Pg-S3cret-77", "Hunter2!", "Ab3dEf6hIj9kLm2nOp5q"):
        assert secret not in out
    assert "connecting to postgresql://aiops:[REDACTED:password]@db01:5432/aiops" in out
    assert "with token [REDACTED:github_token]" in out
    assert "ticket text: password: [REDACTED:password]" in out
    assert "RuntimeError: upstream refused Authorization: Bearer [REDACTED:" in out
    assert "Traceback (most recent call last)" in out
    assert "WARNING test tests.logs: stack here" in out


def test_loggers_with_their_own_handlers_are_masked_too(stderr: pytest.CaptureFixture[str]) -> None:
    own = io.StringIO()
    logger = logging.getLogger("tests.logs.own_handler")
    handler = logging.StreamHandler(own)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        configure_logging("test")
        logger.error("token=%s", "abcdef123456")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert own.getvalue() == "token=[REDACTED:token]\n"


def test_a_record_whose_arguments_do_not_fit_still_reaches_the_handler(
    stderr: pytest.CaptureFixture[str],
) -> None:
    configure_logging("test")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    keep.addFilter(logging.getLogger().handlers[0].filters[0])
    logger = logging.getLogger("tests.logs.misfit")
    logger.addHandler(keep)
    try:
        logger.warning("two %s %s", "one")
    finally:
        logger.removeHandler(keep)
    assert [r.msg for r in records] == ["two %s %s"]


def test_formatters_that_read_the_arguments_keep_working(
    stderr: pytest.CaptureFixture[str],
) -> None:
    """uvicorn's access log unpacks (client, method, path, version, status) itself."""
    from uvicorn.logging import AccessFormatter

    own = io.StringIO()
    handler = logging.StreamHandler(own)
    handler.setFormatter(AccessFormatter('%(client_addr)s "%(request_line)s" %(status_code)s'))
    logger = logging.getLogger("tests.logs.access")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        configure_logging("test")
        path = "/hook?token=abcdef123456&x=1"
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
        retries = logging.getLogger("tests.logs.retries")
        retries.warning("%d retries, last error: %s", 3, ValueError(f"bad key {TOKEN}"))
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert own.getvalue() == (
        '127.0.0.1:5000 "GET /hook?token=[REDACTED:credentials]&x=1 HTTP/1.1" 200 OK\n'
    )
    out = stderr.readouterr().err
    assert "3 retries, last error: bad key [REDACTED:github_token]" in out
    assert "Logging error" not in out


def _json_lines(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_json_format_writes_one_object_per_line_with_the_ids_and_masking(
    stderr: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_AGENTS_LOG_FORMAT", "JSON")
    settings = Settings()
    configure_logging("flow", settings.log_level, settings.log_format)
    log = logging.getLogger("tests.logs.json")

    log.info("before any event")
    with log_context(tenant_id="acme", event_id="ev-1"):
        log.warning("calling %s", DSN)
        try:
            raise RuntimeError(f"refused Authorization: Bearer {TOKEN}\nsecond line")
        except RuntimeError:
            log.exception("call failed")
    log.info("explicit ids", extra={"tenant_id": "globex", "event_id": "ev-2"})

    out = stderr.readouterr().err
    before, calling, failed, explicit = _json_lines(out)
    assert set(before) == {"timestamp", "level", "process", "logger", "message"}
    assert before["process"] == "flow" and before["logger"] == "tests.logs.json"
    assert str(before["timestamp"]).endswith("Z")
    assert calling["level"] == "WARNING"
    assert (calling["tenant_id"], calling["event_id"]) == ("acme", "ev-1")
    assert calling["message"] == "calling postgresql://aiops:[REDACTED:password]@db01:5432/aiops"
    assert failed["event_id"] == "ev-1" and "RuntimeError: refused" in str(failed["exception"])
    assert (explicit["tenant_id"], explicit["event_id"]) == ("globex", "ev-2")
    assert TOKEN not in out and "Pg-S3cret-77" not in out


def test_an_unknown_log_format_or_level_is_refused_with_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="use one of text, json"):
        configure_logging("test", format="yaml")
    monkeypatch.setenv("AI_AGENTS_LOG_FORMAT", "yaml")
    with pytest.raises(ValidationError, match="'text' or 'json'"):
        Settings()
    monkeypatch.setenv("AI_AGENTS_LOG_FORMAT", "text")
    monkeypatch.setenv("AI_AGENTS_LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError, match="'DEBUG', 'INFO'"):
        Settings()
    monkeypatch.setenv("AI_AGENTS_LOG_LEVEL", "debug")
    assert Settings().log_level == "DEBUG"


def test_bound_ids_add_up_in_a_task_and_empty_ones_are_skipped(
    stderr: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_AGENTS_LOG_FORMAT", "json")
    settings = Settings()
    configure_logging("ingest", settings.log_level, settings.log_format)
    log = logging.getLogger("tests.logs.bound")

    def one_request() -> None:
        bind_log_context(tenant_id="acme", event_id=None)
        log.warning("tenant known")
        bind_log_context(event_id="ev-9", tenant_id="")
        log.warning("event known")

    contextvars.copy_context().run(one_request)
    log.warning("after the request")

    tenant, event, after = _json_lines(stderr.readouterr().err)
    assert (tenant["tenant_id"], "event_id" in tenant) == ("acme", False)
    assert (event["tenant_id"], event["event_id"]) == ("acme", "ev-9")
    assert "tenant_id" not in after and "event_id" not in after
