"""HTTP clients that serve many tenants keep no cookies.

The flow's clients are shared by every tenant a thread serves. A cookie jar would carry a
cookie one tenant's server set (a session, a load balancer's affinity) onto another
tenant's request to the same host: on a shared cloud host (ServiceDesk Plus Cloud, one
LLM provider) that is state crossing tenants. No call of ours needs a cookie.
"""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy


def no_cookies() -> CookieJar:
    """A jar that refuses every cookie it is offered (no domain is allowed)."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
