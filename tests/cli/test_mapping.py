"""Column names and cell values of exports, turned into tickets, articles and hosts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli import mapping
from cli.tabular import columns, read_records


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30/Sep/21 17:20", datetime(2021, 9, 30, 17, 20, tzinfo=UTC)),
        ("30/Sep/21 5:20 PM", datetime(2021, 9, 30, 17, 20, tzinfo=UTC)),
        ("2024-03-14T10:22:00Z", datetime(2024, 3, 14, 10, 22, tzinfo=UTC)),
        ("2024-03-14 10:22:00", datetime(2024, 3, 14, 10, 22, tzinfo=UTC)),
        ("Mar 14, 2024 10:22 AM", datetime(2024, 3, 14, 10, 22, tzinfo=UTC)),
        ("1710411720", datetime(2024, 3, 14, 10, 22, tzinfo=UTC)),
        ("1710411720000", datetime(2024, 3, 14, 10, 22, tzinfo=UTC)),
        (1710411720000, datetime(2024, 3, 14, 10, 22, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_timestamps_in_common_export_formats(raw: object, expected: datetime | None) -> None:
    assert mapping.timestamp(raw) == expected


def test_an_unreadable_date_says_which_formats_work() -> None:
    with pytest.raises(mapping.RecordError, match="ISO 8601"):
        mapping.timestamp("yesterday")


def test_columns_are_matched_ignoring_case_and_punctuation_in_alias_order() -> None:
    cmap = mapping.resolve(
        mapping.TICKETS, ["Issue key", "Issue id", "SUMMARY", "Created", "Sprint"], "x.csv"
    )

    assert cmap.fields == {"id": "Issue key", "subject": "SUMMARY", "created_at": "Created"}
    assert cmap.rest == ("Issue id", "Sprint")


def test_ticket_text_is_required() -> None:
    with pytest.raises(mapping.MappingError, match="no ticket text"):
        mapping.resolve(mapping.TICKETS, ["id", "priority"], "x.csv")


def test_repeated_csv_columns_are_gathered(tmp_path: Path) -> None:
    path = tmp_path / "jira.csv"
    path.write_text("Issue key,Summary,Labels,Labels,Labels\nOPS-1,Disk full,disk,,linux\n")

    (_, record), = read_records(path)  # fmt: skip
    cmap = mapping.resolve(mapping.TICKETS, columns(path), path.name)

    assert mapping.to_ticket(record, cmap).tags == ["disk", "linux"]


def test_host_rows_keep_unmapped_columns_as_attributes() -> None:
    cmap = mapping.resolve(mapping.HOSTS, ["Computer Name", "IP", "Serial", "Notes"], "h.csv")

    host = mapping.to_host(
        {"Computer Name": "SRV1", "IP": " 10.1.2.3 ", "Serial": "X1", "Notes": ""}, cmap
    )

    assert (host.hostname, host.ip_address, host.attributes) == (
        "SRV1",
        "10.1.2.3",
        {"Serial": "X1"},
    )


def test_a_resolution_column_of_status_words_is_kept_as_the_name_not_the_fix() -> None:
    # The shared Hadoop export's shape: Status and Resolution both name how it ended.
    cmap = mapping.resolve(
        mapping.TICKETS, ["Summary", "Issue id", "Status", "Resolution", "Description"], "h.csv"
    )
    named = mapping.to_ticket(
        {"Summary": "NPE", "Issue id": "1", "Status": "Closed", "Resolution": "Won't Fix"}, cmap
    )
    assert named.resolution is None and named.extra["resolution_name"] == "Won't Fix"
    assert named.status == "Closed"
    real = mapping.to_ticket(
        {"Summary": "VPN", "Issue id": "2", "Resolution": "Reinstalled the VPN client"}, cmap
    )
    assert real.resolution == "Reinstalled the VPN client" and "resolution_name" not in real.extra


def test_a_status_word_gives_way_to_the_last_comment() -> None:
    cmap = mapping.resolve(mapping.TICKETS, ["id", "subject", "resolution", "comments"], "x.csv")
    ticket = mapping.to_ticket(
        {"id": "7", "subject": "Printer", "resolution": "Fixed", "comments": "Swapped the fuser"},
        cmap,
    )
    assert ticket.resolution == "Swapped the fuser"
    assert ticket.extra["resolution_name"] == "Fixed"
