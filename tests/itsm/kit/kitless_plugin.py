"""A pytest plugin (`-p tests.itsm.kit.kitless_plugin`) that registers a working ITSM plugin
named "kitless" with no kit material, to show that the kit then fails."""

from __future__ import annotations

import pytest

from itsm import registry
from itsm.servicedesk import ServiceDeskPlugin


class KitlessPlugin(ServiceDeskPlugin):
    name = "kitless"


def pytest_configure(config: pytest.Config) -> None:
    registry.PLUGINS["kitless"] = KitlessPlugin()
