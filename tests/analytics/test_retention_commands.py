from __future__ import annotations

from typer.testing import CliRunner

from aiops.crypto import SecretBox
from aiops.settings import Settings
from cli.retention_commands import app
from tests.analytics import seed
from warehouse.db import Database
from warehouse.retention import Policy, get_policy


def _env(settings: Settings) -> dict[str, str]:
    assert settings.encryption_key is not None and settings.admin_token is not None
    return {
        "AI_AGENTS_DATABASE_URL": str(settings.database_url),
        "AI_AGENTS_MIGRATION_DATABASE_URL": str(settings.migration_database_url),
        "AI_AGENTS_REDIS_URL": str(settings.redis_url),
        "AI_AGENTS_ENCRYPTION_KEY": settings.encryption_key.get_secret_value(),
        "AI_AGENTS_ADMIN_TOKEN": settings.admin_token.get_secret_value(),
        "AI_AGENTS_STATE_DIR": str(settings.state_dir),
        "COLUMNS": "200",
    }


def test_set_and_show_a_tenants_retention(
    db: Database, box: SecretBox, tenant_id: str, settings: Settings
) -> None:
    seed.tenant(db, box, tenant_id)
    runner, env = CliRunner(), _env(settings)

    done = runner.invoke(
        app, ["set", tenant_id, "--enhancement-days", "30", "--ticket-days", "365"], env=env
    )
    assert done.exit_code == 0, done.output
    with db.tenant(tenant_id) as conn:
        assert get_policy(conn) == Policy(30, 365)
    shown = runner.invoke(app, ["show"], env=env)
    assert shown.exit_code == 0, shown.output
    [line] = [line for line in shown.output.splitlines() if tenant_id in line]
    assert "30 days" in line and "365 days" in line

    reset = runner.invoke(app, ["set", tenant_id], env=env)
    assert reset.exit_code == 0, reset.output
    with db.tenant(tenant_id) as conn:
        assert get_policy(conn) == Policy(None, None)

    for bad in (["--enhancement-days", "0"], ["--ticket-days", "soon"]):
        refused = runner.invoke(app, ["set", tenant_id, *bad], env=env)
        assert refused.exit_code == 1 and "number of days" in refused.output
    unknown = runner.invoke(app, ["set", "no-such-tenant", "--ticket-days", "5"], env=env)
    assert unknown.exit_code == 1 and "no tenant" in unknown.output
