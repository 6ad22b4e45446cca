"""Masking credentials and personal data in ticket text (aiops.redaction)."""

from __future__ import annotations

import pytest

from aiops.redaction import (
    _MAY_HOLD_SECRET,
    _PAIR_WORDS,
    _PAIR_WORDS_NON_ASCII,
    _SHAPE_TRIGGERS,
    _SHAPES,
    EMAIL,
    NAME,
    PHONE,
    Redactor,
    _apply,
    _redact_pairs,
    redact_personal,
    redact_secrets,
    tag,
)

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDw8Xj7Y5cM1kq2lq8qB3sVn1Ls0c5o9rPbzQ8NfJ0xAAAAJgAAAAAAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----"
)

# (text, secret that must be gone, what must be there instead)
SECRETS = [
    ("password: Hunter2!", "Hunter2!", "password: [REDACTED:password]"),
    ("Password=Sommer2024", "Sommer2024", "Password=[REDACTED:password]"),
    ("pwd=abc123 and more", "abc123", "pwd=[REDACTED:password] and more"),
    ("user bob passwd: Xy9#qq", "Xy9#qq", "passwd: [REDACTED:password]"),
    ("PW: geheim99", "geheim99", "PW: [REDACTED:password]"),
    ("The password is Summer2024.", "Summer2024", "password is [REDACTED:password]."),
    ("the password is now Autumn#7", "Autumn#7", "is now [REDACTED:password]"),
    ("password for srv-dc01 is Xy7!kk", "Xy7!kk", "for srv-dc01 is [REDACTED:password]"),
    ("I reset his password to Welcome1", "Welcome1", "password to [REDACTED:password]"),
    ("temporary password Welcome123! for Bob", "Welcome123!", "password [REDACTED:password]"),
    ("Das Passwort lautet Geheim123", "Geheim123", "Passwort lautet [REDACTED:password]"),
    ("Kennwort: Sonne2024", "Sonne2024", "Kennwort: [REDACTED:password]"),
    ("le mot de passe est Soleil2024", "Soleil2024", "est [REDACTED:password]"),
    ("la contraseña es Hola1234", "Hola1234", "es [REDACTED:password]"),
    ("a senha é Ola12345", "Ola12345", "é [REDACTED:password]"),
    ("het wachtwoord is Fiets2024", "Fiets2024", "is [REDACTED:password]"),
    ("пароль: Zima2024", "Zima2024", "пароль: [REDACTED:password]"),
    ("PIN: 4711", "4711", "PIN: [REDACTED:pin]"),
    ("MYSQL_ROOT_PASSWORD: rootpw1", "rootpw1", "MYSQL_ROOT_PASSWORD: [REDACTED:password]"),
    ("dbPassword=s3cret", "s3cret", "dbPassword=[REDACTED:password]"),
    ('{"password": "two words", "user": "bob"}', "two words", '"[REDACTED:password]"'),
    ("<password>hunter2</password>", "hunter2", "<password>[REDACTED:password]</password>"),
    ("api_key=9f8e7d6c5b4a", "9f8e7d6c5b4a", "api_key=[REDACTED:api_key]"),
    ("X-Api-Key: 0a1b2c3d4e5f6a7b", "0a1b2c3d4e5f6a7b", "X-Api-Key: [REDACTED:api_key]"),
    ("token=abcdef123", "abcdef123", "token=[REDACTED:token]"),
    ("client_secret: Qm9iJ3Mgc2VjcmV0", "Qm9iJ3Mgc2VjcmV0", "client_secret: [REDACTED:secret]"),
    ("secret = 'x7#Lm2pq'", "x7#Lm2pq", "secret = '[REDACTED:secret]'"),
    (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET, "AWS_SECRET_ACCESS_KEY=[REDACTED:api_key]"),
    ("key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "sk-proj-Ab3", "key [REDACTED:api_key]"),
    ("sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zT", "sk-Ab3", "[REDACTED:api_key]"),
    ("id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "id [REDACTED:aws_access_key]"),
    (
        f"AKIAIOSFODNN7EXAMPLE / {AWS_SECRET}",
        AWS_SECRET,
        "[REDACTED:aws_access_key] / [REDACTED:aws_secret_key]",
    ),
    ("ghp_" + "A1b2C3d4" * 5, "ghp_A1b2", "[REDACTED:github_token]"),
    ("github_pat_11ABCDEFG0_abcdefghijklmnopqrstu", "github_pat_11", "[REDACTED:github_token]"),
    ("glpat-Ab3dEf6hIj9kLm2nOp5q", "glpat-Ab3", "[REDACTED:gitlab_token]"),
    ("xoxb-123456789012-abcdefABCDEF", "xoxb-1234", "[REDACTED:slack_token]"),
    ("https://hooks.slack.com/services/T000/B000/XXXX1", "T000/B000", "services/[REDACTED:slack"),
    ("AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "AIzaSyD", "[REDACTED:google_api_key]"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39Hq", "[REDACTED:stripe_key]"),
    ("rk_test_4eC39HqLyjWDarjtT1zdp7dc", "4eC39Hq", "[REDACTED:stripe_key]"),
    ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8", "[REDACTED:webhook_secret]"),
    (f"cookie {JWT}", "eyJhbGci", "cookie [REDACTED:jwt]"),
    ("Authorization: Bearer abc.def-123_ghi", "abc.def-123", "Bearer [REDACTED:token]"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpw", "Basic [REDACTED:credentials]"),
    (
        "postgres://admin:S3cr3t@db.example.com:5432/app",
        "S3cr3t",
        "postgres://admin:[REDACTED:password]@db.example.com:5432/app",
    ),
    ("redis://:hunter2@10.0.0.5:6379/0", "hunter2", "redis://:[REDACTED:password]@10.0.0.5"),
    ("https://x.blob.core.windows.net/c?sv=2020&sig=abc%2Fdef", "abc%2Fdef", "sig=[REDACTED"),
    ("GET /api?access_token=ya29.a0AfH6&x=1", "ya29.a0AfH6", "access_token=[REDACTED"),
    (
        "Server=sql01;Database=crm;User Id=sa;Password=my pass word;",
        "my pass word",
        "User Id=sa;Password=[REDACTED:password];",
    ),
    ("Driver={ODBC};Uid=x;Pwd={a;b};", "{a;b}", "Pwd=[REDACTED:password];"),
    (
        "AccountName=acme;AccountKey=Zm9vYmFyYmF6cXV4;EndpointSuffix=core",
        "Zm9vYmFyYmF6cXV4",
        "AccountKey=[REDACTED:password];",
    ),
    (f"key below\n{PEM}\nthanks", "b3BlbnNzaC1", "key below\n[REDACTED:private_key]\nthanks"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n(cut off",
        "MIIEowIBAAKCAQEA7",
        "[REDACTED:private_key]",
    ),
]


@pytest.mark.parametrize(("text", "secret", "expected"), SECRETS)
def test_credentials_are_masked_and_their_context_kept(
    text: str, secret: str, expected: str
) -> None:
    masked = redact_secrets(text)
    assert secret not in masked
    assert expected in masked


@pytest.mark.parametrize(
    "text",
    [
        "My password is not working since Monday",
        "password expired yesterday, please reset",
        "Password reset for user01 on srv-dc01",
        "The password is correct but login fails",
        "Passwort ist abgelaufen",
        "password: reset needed",
        "token: expired",
        "Bearer authentication is used by the API",
        "passwordless login via Windows Hello",
        "bypass: enabled; passport: X123",
        "Outlook keeps asking for the password",
        "fs.s3a.session.token = (unset)",
        'export AWS_SECRET_KEY="${AWS_SECRET_KEY}"',
        "token = e.getValue();",
        "credentials: software.amazon.awssdk.core.exception.SdkClientException: Received",
        "MINIO_ACCESS_KEY=access",
        "CachedSASToken: Error parsing the SAS token",
        "see https://example.com/kb?id=42&lang=en and http://host:8080/a@b",
        "git commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "build 10.0.19045.3803 on HADOOP-12345, KB5034441, 0x80070005",
    ],
)
def test_prose_and_code_about_credentials_is_left_alone(text: str) -> None:
    assert redact_secrets(text) == text


def test_masking_twice_changes_nothing_more() -> None:
    text = "\n".join(t for t, _, _ in SECRETS)
    once = Redactor(personal=True).text(text)
    assert Redactor(personal=True).text(once) == once
    assert "]]" not in once


def test_text_whose_lower_case_differs_in_length_is_still_masked() -> None:
    assert redact_secrets("İstanbul office, password: Hunter2") == (
        "İstanbul office, password: [REDACTED:password]"
    )


def test_the_quick_check_lets_through_every_word_a_rule_starts_at() -> None:
    # Text the quick check finds nothing in is returned unmasked, so it must find every
    # shape trigger and pair-start word, wherever it stands.
    words = [
        *_SHAPE_TRIGGERS,
        *_PAIR_WORDS,
        *_PAIR_WORDS_NON_ASCII,
    ]
    for word in words:
        assert _MAY_HOLD_SECRET.search(f"x {word}") is not None, word
        assert _MAY_HOLD_SECRET.search(f"{word}x") is not None, word


def test_the_quick_paths_mask_as_every_rule_run_on_the_text_does() -> None:
    # redact_secrets skips rules by what its scans find (a shape's scan starts at the
    # first word that may start a secret); running every rule is the reference.
    fillers = ["", "x", "see ", "İ ", " is now ", "=", ": "]
    values = ["Hunter2!x", "abcdef1234567890abcdef1234567890XYZ", AWS_SECRET, JWT]
    words = sorted({*_SHAPE_TRIGGERS, *_PAIR_WORDS, *_PAIR_WORDS_NON_ASCII})
    for n, word in enumerate(words):
        for second in (words[(n * 7) % len(words)], "ghp_" + "a1" * 20, ""):
            filler, value = fillers[n % len(fillers)], values[n % len(values)]
            text = f"{filler}{word}{fillers[(n + 3) % len(fillers)]}{value} {second}{value}"
            expected = _redact_pairs(_apply(_SHAPES, text))
            assert redact_secrets(text) == expected, text


def test_no_pair_start_word_begins_another() -> None:
    # Pairs are tried where a pair-start word matches: with one word the start of another,
    # which of them matched (and so the next start found) would depend on their order.
    words = [*_PAIR_WORDS, *_PAIR_WORDS_NON_ASCII]
    assert [(a, b) for a in words for b in words if a != b and b.startswith(a)] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PASSWORD: Hunter2", "PASSWORD: [REDACTED:password]"),
        ("Api_Key=8f3b2c1d9e7a6b5c4d3e", "Api_Key=[REDACTED:api_key]"),
        ("BEARER abcdef123456789", "BEARER [REDACTED:token]"),
    ],
)
def test_labels_in_any_case_are_masked(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected


PERSONAL = [
    ("write to jane.doe+it@acme.example.com today", "write to [EMAIL] today"),
    ("mailto:bob@x.org", "mailto:[EMAIL]"),
    ("call +49 30 1234567 now", "call [PHONE] now"),
    ("call +1 (555) 123-4567", "call [PHONE]"),
    ("+442079460958", "[PHONE]"),
    ("0049 30 12345678", "[PHONE]"),
    ("(555) 123-4567 or 555-123-4567 or 555.123.4567", "[PHONE] or [PHONE] or [PHONE]"),
    ("Tel: 030 1234567", "Tel: [PHONE]"),
    ("Mobil 0171/1234567", "Mobil [PHONE]"),
    ("phone no. 12345678", "phone no. [PHONE]"),
    ("020 7946 0958", "[PHONE]"),
    ("01 23 45 67 89 / 06.12.34.56.78", "[PHONE] / [PHONE]"),
]


@pytest.mark.parametrize(("text", "expected"), PERSONAL)
def test_email_addresses_and_phone_numbers_are_masked(text: str, expected: str) -> None:
    assert redact_personal(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "IP 10.0.0.9, 192.168.1.100:8080, fe80::1ff:fe23:4567:890a and 2001:db8::1",
        "tickets INC0012345, #123456, REQ-2024-00123, HADOOP-12345, ticket 1234567",
        "dates 2024-01-15 10:30:00, 15.01.2024, 01/15/2024, 05-06-2024, 2015-04-22 10:23:45,123",
        "versions 10.0.19045.3803, 16.0.17328.20162, v2.3.4, 0.23.1, 1.2.3-beta",
        "KB5034441, 0x80070005, CVE-2024-12345, 1,234,567 rows, 00:15:30",
        "MACs 00:1A:2B:3C:4D:5E and 01-23-45-67-89-ab",
        "Phone: 10.0.0.5 is the VoIP phone's address",
        "order 0012345678, serial 5CG1234XYZ, port 8443",
        "ftp://bob@files.example.com/in",
    ],
)
def test_numbers_that_are_not_phone_numbers_are_kept(text: str) -> None:
    assert redact_personal(text) == text


def test_personal_data_is_masked_only_when_asked() -> None:
    text = "Jane Doe (jane@acme.com, +49 30 1234567): password: Hunter2!"
    assert Redactor().text(text) == (
        "Jane Doe (jane@acme.com, +49 30 1234567): password: [REDACTED:password]"
    )
    assert Redactor(personal=True, names=["Jane  Doe", "x"]).text(text) == (
        f"{NAME} ({EMAIL}, {PHONE}): password: [REDACTED:password]"
    )


def test_a_connection_url_keeps_user_and_host_with_personal_masking() -> None:
    masked = Redactor(personal=True).text("mysql://app:S3cr3t@db01.acme.com/crm")
    assert masked == "mysql://app:[REDACTED:password]@db01.acme.com/crm"


def test_every_string_of_a_json_value_is_masked() -> None:
    value = {
        "srv-web01": {"state": "DOWN", "note": "token=abcdef123", "contact": "ops@acme.com"},
        "checks": ["ok", 3, None, ("password: Hunter2!",)],
        "count": 2,
    }
    masked = Redactor(personal=True).value(value)
    assert masked == {
        "srv-web01": {"state": "DOWN", "note": f"token={tag('token')}", "contact": EMAIL},
        "checks": ["ok", 3, None, (f"password: {tag('password')}",)],
        "count": 2,
    }
    assert Redactor().optional(None) is None
