"""Noise detection: false positives on real tickets, and misses on a labelled noise set.

    .venv/bin/python -m tests.bench.bench_noise

False positives matter more than misses (a real ticket gets no help; a missed auto-reply
gets one useless note), so both are printed:

- real tickets: every issue of the shared Hadoop Jira corpus is a ticket a person wrote,
  so each one flagged is a false positive;
- tests/fixtures/noise/labelled.jsonl: auto-replies (RFC 3834 Auto-Submitted,
  X-Autoreply, vendor subjects in several languages), out-of-office answers, delivery
  status notifications (RFC 3464 bodies, MTA texts, mailer-daemon senders), newsletters
  (List-Unsubscribe, List-Id, footers) and empty tickets, written from real-world shapes,
  with real tickets that talk about the same things (the hard negatives).

Baseline in the same run: a naive keyword rule (subject or body mentions "out of office",
"undeliverable", "unsubscribe", "automatic reply" ...), what a first attempt would do
(it names no reason, so its "right reason" count means nothing). The labelled set was
written alongside the rules: its figures show the rules do what they claim, not how they
fare on an unseen mailbox; the real-ticket false-positive figure is the unbiased one.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from aiops.events import Ticket
from flows.noise import classify
from tests.bench.corpus import load_issues

LABELLED = Path(__file__).resolve().parents[1] / "fixtures" / "noise" / "labelled.jsonl"
_NAIVE = re.compile(
    r"out of (the )?office|undeliver|delivery (status|failed|failure)|unsubscribe|newsletter"
    r"|auto(matic)?[ -]?(reply|response)|mailer-daemon",
    re.IGNORECASE,
)


def naive(ticket: Ticket) -> str | None:
    if not ticket.text.strip():
        return "empty"
    return "keyword" if _NAIVE.search(ticket.text) else None


def ours(ticket: Ticket) -> str | None:
    found = classify(ticket)
    return found.reason if found else None


def load_labelled() -> list[tuple[Ticket, str]]:
    cases = []
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        extra = {"headers": item["headers"]} if item.get("headers") else {}
        ticket = Ticket(
            id=item["id"],
            subject=item["subject"],
            description=item["description"],
            requester_email=item.get("requester_email"),
            extra=extra,
        )
        cases.append((ticket, item["label"]))
    return cases


def report(name: str, rule: Callable[[Ticket], str | None], real: list[Ticket]) -> None:
    started = time.process_time()
    flagged = [(t, reason) for t in real if (reason := rule(t)) is not None]
    cpu_us = (time.process_time() - started) * 1e6 / len(real)
    cases = load_labelled()
    noise = [(t, label) for t, label in cases if label != "ticket"]
    tickets = [t for t, label in cases if label == "ticket"]
    caught = [(t, label, rule(t)) for t, label in noise]
    right_kind = sum(1 for _, label, got in caught if got == label)
    hard_fp = [t for t in tickets if rule(t) is not None]
    print(f"\n{name}")
    print(
        f"  real Hadoop tickets flagged (false positives): {len(flagged)} of {len(real)}"
        f" ({len(flagged) / len(real):.2%}); {cpu_us:.0f} us CPU per ticket"
    )
    for ticket, reason in flagged[:3]:
        print(f"    e.g. {reason}: {ticket.subject[:70]!r}")
    print(
        f"  labelled noise caught: {sum(1 for *_, got in caught if got)} of {len(noise)}"
        f" (right reason {right_kind}); missed: {sum(1 for *_, got in caught if not got)}"
    )
    missed = Counter(label for _, label, got in caught if not got)
    if missed:
        print(f"    missed by kind: {dict(missed)}")
    print(f"  labelled real tickets flagged (false positives): {len(hard_fp)} of {len(tickets)}")
    for ticket in hard_fp:
        print(f"    {ticket.subject[:70]!r}")


def main() -> None:
    real = [
        Ticket(id=i.issue_id, subject=i.summary, description=i.description)
        for i in load_issues().values()
    ]
    print(f"real tickets: {len(real)} Hadoop Jira issues; labelled set: {LABELLED.name}")
    report("baseline: naive keywords", naive, real)
    report("flows.noise.classify", ours, real)


if __name__ == "__main__":
    main()
