"""Triage suggestions (kNN vote), what may be written, ongoing incidents, status words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiops.events import Ticket
from aiops.resolution_words import is_status_word
from flows.context import SimilarTicket
from flows.incidents import RecentTicket, Signature, find_incident, signature
from flows.triage import (
    PRIOR_WEIGHT,
    Suggestion,
    WritePolicy,
    note_lines,
    suggest,
    to_write,
    vote,
)
from flows.triage_model import MODEL, combine, model_suggestions, split_answer


def _similar(
    tid: str, score: float, category: str | None, priority: str | None = None
) -> SimilarTicket:
    return SimilarTicket(tid, f"subject {tid}", None, category, score, priority=priority)


def test_the_vote_is_weighted_by_similarity_and_shrunk_by_little_evidence() -> None:
    neighbours = [
        _similar("1", 9.0, "Email", "High"),
        _similar("2", 1.0, "Network", "Low"),
        _similar("3", 1.0, "Network", "Low"),
    ]
    category = vote(neighbours, "category")
    assert category is not None
    # Email has 9 of 11 neighbour votes; with no history counts the prior's votes go to no
    # value and only dilute: 9 / (11 + PRIOR_WEIGHT).
    assert category.value == "Email" and category.votes == 1 and category.voters == 3
    assert category.confidence == round(9 / (11 + PRIOR_WEIGHT), 3)


def test_weak_evidence_falls_back_to_what_the_tenant_usually_files() -> None:
    history = {"Major": 700, "Minor": 200, "Blocker": 100}
    one_distant = [_similar("1", 0.5, None, "Minor")]
    found = vote(one_distant, "priority", history)
    assert found is not None
    # Major: 3 * 700/1001 = 2.10 of 3.5 votes; Minor: 0.5 + 3 * 200/1001 = 1.10.
    assert found.value == "Major" and found.votes == 0 and found.voters == 1
    assert found.confidence == round(3 * 700 / 1001 / 3.5, 3)
    assert found.prior == round(700 / 1001, 3)


def test_close_agreeing_neighbours_outvote_the_habit() -> None:
    history = {"Major": 700, "Minor": 200, "Blocker": 100}
    agreeing = [_similar(str(i), 0.9, None, "blocker") for i in range(5)]
    found = vote(agreeing, "priority", history)
    assert found is not None
    assert found.value == "blocker" and found.votes == 5
    assert found.confidence == round((4.5 + 3 * 100 / 1001) / 7.5, 3)
    # The same neighbours without the prior: more sure, as nothing speaks against them.
    alone = vote(agreeing, "priority", history, prior_weight=0)
    assert alone is not None and alone.confidence == 1.0 > found.confidence


def test_history_counts_merge_spellings_and_leave_room_for_a_new_value() -> None:
    found = vote([_similar("1", 1.0, "email")], "category", {"Email": 3, "email": 1})
    assert found is not None
    # Four of four history tickets are Email: a share of 4/5, the next could be new.
    assert found.prior == 0.8 and found.value == "email"
    assert found.confidence == round((1 + 3 * 0.8) / 4, 3)


def test_suggest_uses_each_fields_own_counts() -> None:
    neighbours = [_similar("1", 0.6, "Email", "Low")]
    priors = {"category": {"Email": 9}, "priority": {"High": 90, "Low": 10}}
    by_field = {s.field: s for s in suggest(neighbours, priors)}
    assert by_field["category"].value == "Email"
    assert by_field["priority"].value == "High" and by_field["priority"].votes == 0


def test_agreeing_neighbours_give_more_confidence_the_more_there_are() -> None:
    two = vote([_similar(str(i), 1.0, "Printing") for i in range(2)], "category")
    five = vote([_similar(str(i), 1.0, "Printing") for i in range(5)], "category")
    assert two is not None and five is not None
    assert two.confidence < five.confidence < 1


def test_votes_ignore_case_and_missing_values() -> None:
    neighbours = [
        _similar("1", 2.0, "email"),
        _similar("2", 2.0, "Email"),
        _similar("3", 5.0, None),
    ]
    found = vote(neighbours, "category")
    assert found is not None and found.value == "email" and found.voters == 2


def test_no_neighbour_with_the_field_means_no_suggestion() -> None:
    assert vote([_similar("1", 3.0, None)], "category") is None
    assert suggest([]) == []


def test_only_fields_turned_on_sure_enough_writable_and_changed_are_written() -> None:
    suggestions = suggest([_similar(str(i), 1.0, "Email", "High") for i in range(5)])
    assert [s.confidence for s in suggestions] == [round(5 / 8, 3)] * 2
    ticket = Ticket(id="9", subject="x", category=None, priority="high")
    on = WritePolicy(write_fields=True, threshold=0.6)
    assert to_write(suggestions, ticket, on, ("category", "priority")) == {"category": "Email"}
    assert to_write(suggestions, ticket, WritePolicy(write_fields=False), ("category",)) == {}
    assert to_write(suggestions, ticket, WritePolicy(True, 0.7), ("category",)) == {}
    assert to_write(suggestions, ticket, on, ("priority",)) == {}
    only_priority = WritePolicy(True, 0.5, ("priority",))
    assert to_write(suggestions, ticket, only_priority, ("category", "priority")) == {}


def test_the_habit_alone_against_every_neighbour_is_shown_but_never_written() -> None:
    history = {"Major": 990, "Minor": 10}
    found = vote([_similar("1", 0.5, None, "Minor")], "priority", history)
    assert found is not None and found.value == "Major" and found.votes == 0
    assert found.confidence > 0.8
    ticket = Ticket(id="9", subject="x", priority="Minor")
    assert to_write([found], ticket, WritePolicy(True, 0.8), ("priority",)) == {}


def test_the_note_lines_show_value_confidence_and_what_was_set() -> None:
    suggestions = suggest([_similar(str(i), 1.0, "Email") for i in range(4)])
    lines = note_lines(suggestions, {"category": "Email"})
    assert (
        lines[1] == "- Category: Email (57% confidence, 4 of 4 similar tickets) - set on the ticket"
    )
    usual = suggest([_similar(str(i), 1.0, "Email") for i in range(4)], {"category": {"Email": 9}})
    assert note_lines(usual, {})[1] == (
        "- Category: Email (96% confidence, 4 of 4 similar tickets, 90% of all tickets)"
    )


_NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _recent(tid: str, text: str, minutes_ago: float) -> RecentTicket:
    return RecentTicket(tid, text, _NOW - timedelta(minutes=minutes_ago))


def test_a_shared_host_makes_an_incident_with_one_earlier_ticket() -> None:
    recent = [_recent("123", "SRV-DC01 not responding", 12), _recent("200", "Printer jam", 3)]
    incident = find_incident(signature("Cannot log on, srv-dc01 down?"), _NOW, recent)
    assert incident is not None
    assert incident.related == ("123",) and incident.tickets == 2 and incident.minutes == 12
    assert incident.note_line() == (
        "Possibly the same incident as #123: 2 tickets in 12 minutes (same host srv-dc01)."
    )


def test_a_shared_error_code_counts_and_ids_are_oldest_first() -> None:
    recent = [
        _recent("124", "Update fails with 0x80070005", 4),
        _recent("123", "0x80070005 on every laptop", 9),
    ]
    incident = find_incident(signature("Windows update error 0x80070005"), _NOW, recent)
    assert incident is not None and incident.related == ("123", "124")
    assert "error 0x80070005" in incident.shared


def test_a_service_alone_needs_two_earlier_tickets() -> None:
    one = [_recent("1", "VPN keeps dropping", 5)]
    assert find_incident(signature("VPN will not connect"), _NOW, one) is None
    two = [*one, _recent("2", "AnyConnect VPN error", 2)]
    incident = find_incident(signature("VPN will not connect"), _NOW, two)
    assert incident is not None and incident.tickets == 3 and incident.shared == ("service vpn",)


def test_unrelated_recent_tickets_make_no_incident() -> None:
    recent = [_recent("1", "New starter laptop", 1), _recent("2", "Printer jam on floor 2", 2)]
    assert find_incident(signature("Outlook asks for password"), _NOW, recent) is None
    assert signature("Please order a chair").services == frozenset()


def test_status_words_are_recognised_and_fixes_are_not() -> None:
    for word in (
        "Fixed",
        "Done",
        "RESOLVED.",
        "Won't Fix",
        "Won\u2019t Fix",
        "Cannot Reproduce",
        "",
        "  ",
        None,
    ):
        assert is_status_word(word), word
    for fix in (
        "Restarted the spooler service",
        "Fixed by clearing the DNS cache",
        "Done: reset MFA",
    ):
        assert not is_status_word(fix), fix


def test_the_models_triage_line_is_taken_out_of_the_note_and_read_strictly() -> None:
    text = (
        'Restart the spooler.\n\nTRIAGE {"category": "Printing", "priority": null, '
        '"confidence": 0.7}'
    )
    note, answer = split_answer(text)
    assert note == "Restart the spooler."
    assert [(s.field, s.value, s.confidence) for s in model_suggestions(answer)] == [
        ("category", "Printing", 0.7)
    ]
    assert split_answer("No line here.") == ("No line here.", None)
    assert split_answer("x\nTRIAGE {not json}")[1] is None
    for bad in (
        {"category": "A", "confidence": 3},
        {"category": "A"},
        {"category": "A" * 101, "confidence": 0.5},
    ):
        assert model_suggestions(bad) == [], bad


def test_history_and_model_agreeing_are_surer_and_the_model_alone_is_never_written() -> None:
    history = suggest([_similar(str(i), 1.0, "Email", "High") for i in range(3)])
    model = [
        Suggestion("category", "email", 0.6, MODEL, 0, 0),
        Suggestion("type", "Incident", 0.95, MODEL, 0, 0),
        Suggestion("priority", "Low", 0.4, MODEL, 0, 0),
    ]
    joined = {s.field: s for s in combine(history, model)}
    # Three neighbours and no history counts: 3 / (3 + PRIOR_WEIGHT) = 0.5 each.
    assert joined["category"].confidence == round(1 - (1 - 0.5) * (1 - 0.6), 3)
    assert joined["category"].votes == 3 and joined["category"].value == "Email"
    assert joined["priority"].value == "High"  # the surer of the two
    assert joined["type"].origin == MODEL
    ticket = Ticket(id="1", subject="x")
    chosen = to_write(
        list(joined.values()), ticket, WritePolicy(True, 0.5), ("category", "priority", "type")
    )
    assert chosen == {"category": "Email", "priority": "High"}
    lines = note_lines(list(joined.values()), chosen)
    assert "the model agrees" in lines[1] and "the model's view" in lines[3]


def test_a_stored_signature_is_used_instead_of_the_text() -> None:
    stored = signature("srv-dc01 is down").as_dict()
    assert Signature.from_dict(stored) == signature("srv-dc01 is down")
    assert Signature.from_dict({"hosts": "srv-dc01"}) is None
    # The text says nothing; the stored signature names the host.
    recent = [RecentTicket("9", "", _NOW, Signature.from_dict(stored))]
    incident = find_incident(signature("SRV-DC01 again"), _NOW, recent)
    assert incident is not None and incident.related == ("9",)


def test_errors_and_services_are_read_in_one_pass_each() -> None:
    found = signature(
        "Outlook: error 1603 and 0x80070005, NullPointerException, smtp 5.7.1, ORA-00942, "
        "mapped drive gone, version 4.2.1"
    )
    assert found.errors == {"1603", "0x80070005", "nullpointerexception", "5.7.1", "ora-00942"}
    assert found.services == {"email", "file share"}
