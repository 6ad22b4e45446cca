"""Every ITSM plugin by the name tenants are configured with."""

from __future__ import annotations

from itsm.base import ItsmPlugin
from itsm.connectwise import ConnectWisePlugin
from itsm.freshservice import FreshservicePlugin
from itsm.jira import JiraPlugin
from itsm.servicedesk import ServiceDeskPlugin
from itsm.servicenow import ServiceNowPlugin
from itsm.zendesk import ZendeskPlugin

PLUGINS: dict[str, ItsmPlugin] = {
    plugin.name: plugin
    for plugin in (
        ServiceDeskPlugin(),
        JiraPlugin(),
        ZendeskPlugin(),
        FreshservicePlugin(),
        ServiceNowPlugin(),
        ConnectWisePlugin(),
    )
}


def plugin(name: str) -> ItsmPlugin:
    try:
        return PLUGINS[name]
    except KeyError:
        known = ", ".join(sorted(PLUGINS))
        raise KeyError(f"no ITSM plugin named {name!r}; known plugins: {known}") from None
