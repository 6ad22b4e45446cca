"""Trying a tenant's ITSM credentials before they are saved, as BYOK LLM keys are: a
mistyped token is refused at once, not found later as failed notes."""

from __future__ import annotations

import httpx

from aiops.errors import PermanentError, TransientError
from itsm.base import ItsmConnection, ItsmPlugin


class CredentialsRefused(Exception):
    """The ITSM answered and said no (401, 403, a wrong URL or flavor)."""


class ItsmUnreachable(Exception):
    """The ITSM could not be asked (down, timing out, rate-limiting): nothing is known."""


def check_credentials(plugin: ItsmPlugin, connection: ItsmConnection, http: httpx.Client) -> None:
    """The plugin client's cheap authenticated read; the errors' text names no secret."""
    try:
        plugin.client(connection, http).check_credentials()
    except PermanentError as exc:
        raise CredentialsRefused(str(exc)) from None
    except TransientError as exc:
        raise ItsmUnreachable(str(exc)) from None
