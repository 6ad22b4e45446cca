"""Resolution fields that name a status ("Fixed", "Won't Fix") rather than say what fixed it.

Jira's resolution field, ServiceDesk Plus closure codes and many CSV exports hold such a
word; quoted to a technician as "the fix" it tells them nothing. Pure logic: the caller
decides where to look for the real fix.
"""

from __future__ import annotations

import re

# Jira's default resolutions, ServiceDesk Plus closure codes, ServiceNow close codes, and
# the words helpdesks type into a resolution box instead of a fix.
STATUS_WORDS = frozenset(
    {
        "fixed",
        "done",
        "resolved",
        "closed",
        "complete",
        "completed",
        "solved",
        "wont fix",
        "wont do",
        "won't fix",
        "won't do",
        "duplicate",
        "cannot reproduce",
        "can't reproduce",
        "not a problem",
        "not a bug",
        "invalid",
        "incomplete",
        "works for me",
        "working as designed",
        "by design",
        "later",
        "abandoned",
        "implemented",
        "answered",
        "declined",
        "cancelled",
        "canceled",
        "success",
        "successful",
        "unresolved",
        "n/a",
        "na",
        "none",
        "ok",
        "-",
        "solved (permanently)",
        "solved (work around)",
        "closed/resolved by caller",
        "resolved by caller",
        "resolved by request",
        "resolved by problem",
        "resolved by change",
        "no resolution provided",
    }
)
_SPACE = re.compile(r"\s+")
# A status word may come with trailing punctuation or case: "Fixed.", "WON'T FIX!".
_TRIM = ".!;:,\"' \t"


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.replace("\u2019", "'")).strip(_TRIM).lower()


def is_status_word(text: str | None) -> bool:
    """True when `text` is empty or only names how the ticket ended, not what fixed it."""
    if text is None:
        return True
    norm = _norm(text)
    return not norm or norm in STATUS_WORDS or norm.replace("'", "") in STATUS_WORDS
