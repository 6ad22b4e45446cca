"""Trying a tenant's ITSM credentials from the CLI before they are saved."""

from __future__ import annotations

import httpx

from cli.console import fail
from itsm.base import ItsmPlugin
from itsm.connection_settings import ConnectionSettings
from itsm.credentials import CredentialsRefused, ItsmUnreachable, check_credentials


def check_itsm(plugin: ItsmPlugin, settings: ConnectionSettings, timeout_seconds: float) -> None:
    """Nothing to try without credentials; a refusal or no answer ends the command."""
    connection = settings.connection(timeout_seconds)
    if connection is None:
        return
    with httpx.Client() as http:
        try:
            check_credentials(plugin, connection, http)
        except CredentialsRefused as exc:
            fail(f"{exc}. Nothing was saved; check the {plugin.title} credentials and try again.")
        except ItsmUnreachable as exc:
            fail(
                f"{exc}. The credentials could not be tried, so nothing was saved; try again "
                "when it answers, or add --skip-itsm-check to save them untried."
            )
