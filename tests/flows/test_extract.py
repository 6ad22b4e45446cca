from __future__ import annotations

from flows.extract import MAX_CANDIDATES, find_mentions


def test_finds_valid_ipv4_and_ipv6_addresses_only() -> None:
    found = find_mentions(
        "From 10.0.0.5 to 192.168.1.10:3389 fails; 999.1.1.1 and 1.2.3 are not addresses. "
        "Link-local fe80::1%eth0, global [2001:db8::8a2e:370:7334]:443; 12:30:45 is a time."
    )
    assert found.ips == ("10.0.0.5", "192.168.1.10", "fe80::1", "2001:db8::8a2e:370:7334")


def test_finds_fqdns_and_host_like_names_lower_cased() -> None:
    found = find_mentions(
        "Users on SRV-DC01 cannot reach web01.acme.local or https://portal.acme.com/login; "
        "srv-fs02 is fine."
    )
    assert found.hostnames == (
        "web01.acme.local",
        "web01",
        "portal.acme.com",
        "srv-dc01",
        "srv-fs02",
    )


def test_ignores_emails_files_update_ids_and_address_pieces() -> None:
    found = find_mentions(
        "bob@acme.com says setup.exe and install.log fail after KB5034441 on Windows11 "
        "(CVE-2024-21412); also see 2001:db8::1 and version 2.0 and TLS1.2."
    )
    assert found.hostnames == ()
    assert found.ips == ("2001:db8::1",)


def test_nothing_found_is_falsy_and_candidates_are_capped() -> None:
    assert not find_mentions("The printer on the second floor is jammed again.")
    many = " ".join(f"host{i:02d}" for i in range(MAX_CANDIDATES + 10))
    assert len(find_mentions(many).hostnames) == MAX_CANDIDATES
