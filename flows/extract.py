"""Host names and IP addresses mentioned in ticket text, for the inventory and monitoring.

Pure text work. Precision matters less than recall here: every candidate is only looked up
in the tenant's own inventory, so a false candidate costs a row in a query, not a wrong note.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MAX_CANDIDATES = 20

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\w)")
_IPV6 = re.compile(
    r"(?<![\w:])\[?([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?)\]?(?![\w:])"
)
_FQDN = re.compile(
    r"(?<![\w.-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})(?![\w-])",
    re.IGNORECASE,
)
# Only words with a digit in them: a host-like name has one (`_host_like`), and most words
# have none, so the lookahead rejects them before a match object is made.
_TOKEN = re.compile(
    r"(?<![\w.-])(?=[a-z0-9-]*[0-9])([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![\w-])", re.IGNORECASE
)
# A C-level search each, not a Python loop over the characters (that loop cost more than
# the rest of find_mentions).
_DIGIT = re.compile(r"[0-9]")
_LETTER = re.compile(r"[a-z]", re.IGNORECASE)

# Names shaped like hosts that tickets mention for other reasons.
_NOT_HOSTS = re.compile(
    r"^(?:kb\d+|cve-.*|inc\d+|req\d+|chg\d+|ms\d+-\d+|win\d+|windows\d+|office\d+|"
    r"m365|o365|x86|x64|ipv[46]|tls\d*|ssl\d*|utf-?\d+|sha\d+|md5|mp[34]|h\d+|http\d*|"
    r"smb\d*|ntlmv?\d*|v\d+|[a-z]\d)$"
)
_FILE_SUFFIXES = frozenset(
    {
        *("bat", "cfg", "conf", "csv", "dll", "doc", "docx", "exe", "htm", "html", "ini"),
        *("jpg", "js", "json", "log", "md", "msi", "pdf", "png", "ps1", "py", "sh", "sql"),
        *("sys", "tmp", "txt", "xls", "xlsx", "xml", "yaml", "yml", "zip"),
    }
)


@dataclass(frozen=True)
class Mentions:
    hostnames: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.hostnames or self.ips)


def _ip(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    return None if address.is_unspecified else str(address)


def _host_like(token: str) -> bool:
    """Letters and digits together, like SRV-DC01 or web01; not KB5034441 or Windows11."""
    return (
        3 <= len(token) <= 63
        and _DIGIT.search(token) is not None
        and _LETTER.search(token) is not None
        and not _NOT_HOSTS.match(token.lower())
    )


def _add(found: list[str], value: str) -> None:
    if value not in found and len(found) < MAX_CANDIDATES:
        found.append(value)


def find_mentions(text: str) -> Mentions:
    """Valid IPv4/IPv6 addresses, FQDNs and host-like names, lower-cased, in order of mention."""
    if "@" in text:  # most tickets name no e-mail address: the scan is skipped
        text = _EMAIL.sub(" ", text)
    ips: list[str] = []
    for match in _IPV4.finditer(text):
        if (ip := _ip(match.group())) is not None:
            _add(ips, ip)
    for match in _IPV6.finditer(text):
        if match.group(1).count(":") >= 2 and (ip := _ip(match.group(1))) is not None:
            _add(ips, ip)
    # Address pieces such as "fe80" or "db8" are not host names.
    text = _IPV6.sub(" ", _IPV4.sub(" ", text))

    names: list[str] = []
    for match in _FQDN.finditer(text):
        fqdn = match.group(1).lower()
        if fqdn.rsplit(".", 1)[1] in _FILE_SUFFIXES:
            continue
        _add(names, fqdn)
        first = fqdn.split(".", 1)[0]
        if _host_like(first):
            _add(names, first)
    for match in _TOKEN.finditer(text):
        if _host_like(match.group(1)):
            _add(names, match.group(1).lower())
    return Mentions(tuple(names), tuple(ips))
