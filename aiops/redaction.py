"""Masking credentials, and optionally personal data, in free text. Pure string work.

Ticket text is written by requesters who paste passwords, API keys and connection strings
into it; that text goes to LLM providers and may end up in logs. Each finding is replaced
by a visible tag such as `[REDACTED:password]`, and what surrounds it is kept (the label
of a `password: x` pair, the user and host of a `scheme://user:pass@host` URL), so a
technician still sees what the requester meant. Personal data (e-mail addresses, phone
numbers, the requester's name) is masked only when a tenant asks for it.

Masking is idempotent: masked text contains nothing that is masked again.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
NAME = "[NAME]"

Replace = Callable[[re.Match[str]], str]


def tag(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# Values that are already masked, and words that follow "password is" / "password:" in
# sentences about a password rather than in front of one.
_MASKED = re.compile(r"\[(?:REDACTED:[a-z_]+|EMAIL|PHONE|NAME)\]")
_NOT_SECRET_WORDS = """
    a about above accepted after again also an and any are as at attached available bad
    been before being below blank blocked by can case changed change changing complex
    correct correctly currently denied different disabled does empty enabled encrypted
    expire expired expires expiring fail failed failing fails fine for forgot forgotten
    from good has have hidden in incorrect invalid is it its known locked long lost masked
    me missing my needed new no none not now null of ok okay old on or our protected
    rejected required requirements reset same saved see sensitive set short shown still
    stored strong temporary that the their there this to too unchanged unknown updated
    used valid very was weak with working wrong yes your
    abgelaufen alt das der die ein eine falsch geändert gesperrt ist korrekt leer neu
    nicht richtig ungültig
    bloqué est expiré incorrect invalide la le pas un une
    bloqueada caducada el es incorrecta una
    expirada não o um uma
    """
_NOT_SECRETS = frozenset(_NOT_SECRET_WORDS.split())
_SYMBOLS = frozenset("!@#$%^&*()_+-=[]{}|;:,.<>/?~`'\"\\")


def _is_masked(value: str) -> bool:
    return bool(_MASKED.match(value))


def _plain_word(value: str) -> bool:
    return value.strip("\"'`{}").lower() in _NOT_SECRETS


def _looks_secret(value: str) -> bool:
    """Letters with digits or symbols, six characters or more: Summer2024!, not 'access'."""
    has_alpha = any(c.isalpha() for c in value)
    has_digit = any(c.isdigit() for c in value)
    has_symbol = any(c in _SYMBOLS for c in value)
    return len(value) >= 6 and has_alpha and (has_digit or has_symbol)


def _split_tail(value: str) -> tuple[str, str]:
    """A bare value's sentence punctuation stays outside the mask."""
    if len(value) > 1 and value[-1] in ".,:;)]":
        return value[:-1], value[-1]
    return value, ""


def _any_of(words: Iterable[str]) -> re.Pattern[str]:
    """A pattern finding any of `words`, its alternatives grouped by first character: `re`
    tries every alternative of a flat alternation at every position, a grouped one just
    the group whose first character is there (several times faster on ticket fields)."""
    by_first: dict[str, list[str]] = {}
    for word in sorted(set(words)):
        by_first.setdefault(word[0], []).append(re.escape(word[1:]))
    return re.compile(
        "|".join(f"{re.escape(first)}(?:{'|'.join(rest)})" for first, rest in by_first.items())
    )


# Rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """A pattern and its replacement, run only on text holding one of `triggers`.

    `triggers` are lower-case substrings of which every match holds one (for a pattern
    with a literal prefix, that prefix). Most ticket fields hold none, and a substring
    test on the lower-cased text costs a fraction of even a fast regex scan; a rule
    without triggers always runs.
    """

    pattern: re.Pattern[str]
    replace: Replace
    triggers: tuple[str, ...] = ()

    def apply(self, text: str, lower: str) -> str:
        if self.triggers and not any(t in lower for t in self.triggers):
            return text
        return self.pattern.sub(self.replace, text)


def _fixed(kind: str) -> Replace:
    masked = tag(kind)
    return lambda match: masked


def _prefix_kept(kind: str) -> Replace:
    """The `keep` group stays, the `secret` group is masked."""
    masked = tag(kind)

    def replace(match: re.Match[str]) -> str:
        return match[0] if _is_masked(match["secret"]) else f"{match['keep']}{masked}"

    return replace


def _random_token(kind: str) -> Replace:
    """Like _prefix_kept, for a secret that must look random (digits, or long)."""
    masked = tag(kind)

    def replace(match: re.Match[str]) -> str:
        token = match["secret"]
        randomish = any(c.isdigit() for c in token) or len(token) >= 24
        return f"{match['keep']}{masked}" if randomish and not _is_masked(token) else match[0]

    return replace


_AWS_PREFIXES = ("kia", "sia", "bia", "cca", "gpa", "ida", "ipa", "npa", "nva", "pka", "roa", "sca")

# Well-known token shapes. Each pattern starts with its literal prefix and checks the
# character before it with a lookbehind placed after the prefix, so `re` scans quickly.
_SHAPES = (
    _Rule(
        re.compile(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
        _fixed("private_key"),
        ("-----begin",),
    ),
    _Rule(
        re.compile(r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        _fixed("jwt"),
        ("eyj",),
    ),
    _Rule(
        re.compile(r"sk-(?<![A-Za-z0-9_-]sk-)(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}"),
        _fixed("api_key"),
        ("sk-",),
    ),
    # An AWS key id, and the secret key when it follows the id (as pasted from the console).
    _Rule(
        re.compile(
            rf"A(?<![A-Za-z0-9]A)(?:{'|'.join(_AWS_PREFIXES).upper()})[A-Z0-9]{{16}}"
            r"(?![A-Za-z0-9])(?:(?P<between>[\s,;:|/\"']{1,5})[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=]))?"
        ),
        lambda match: (
            tag("aws_access_key")
            + (f"{match['between']}{tag('aws_secret_key')}" if match["between"] else "")
        ),
        tuple(f"a{p}" for p in _AWS_PREFIXES),
    ),
    _Rule(
        re.compile(r"g(?<![A-Za-z0-9_]g)(?:h[pousr]_[A-Za-z0-9]{30,}|ithub_pat_[A-Za-z0-9_]{20,})"),
        _fixed("github_token"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    _Rule(
        re.compile(r"glpat-(?<![A-Za-z0-9_-]glpat-)[A-Za-z0-9_-]{20,}"),
        _fixed("gitlab_token"),
        ("glpat-",),
    ),
    _Rule(
        re.compile(r"xox(?<![A-Za-z0-9_-]xox)[abposr]-[A-Za-z0-9-]{10,}"),
        _fixed("slack_token"),
        ("xox",),
    ),
    _Rule(
        re.compile(r"(?P<keep>hooks\.slack\.com/services/)(?P<secret>[A-Za-z0-9/]+)"),
        _prefix_kept("slack_webhook"),
        ("hooks.slack.com/services/",),
    ),
    _Rule(
        re.compile(r"AIza(?<![A-Za-z0-9_-]AIza)[0-9A-Za-z_-]{35}"),
        _fixed("google_api_key"),
        ("aiza",),
    ),
    _Rule(
        re.compile(r"[sr]k_(?<![A-Za-z0-9_][sr]k_)(?:live|test)_[0-9A-Za-z]{10,}"),
        _fixed("stripe_key"),
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
    ),
    _Rule(
        re.compile(r"whsec_(?<![A-Za-z0-9_]whsec_)[A-Za-z0-9+/=_-]{10,}"),
        _fixed("webhook_secret"),
        ("whsec_",),
    ),
    _Rule(re.compile(r"npm_(?<![A-Za-z0-9_]npm_)[A-Za-z0-9]{36}"), _fixed("npm_token"), ("npm_",)),
    _Rule(
        re.compile(r"SG\.(?<![A-Za-z0-9]SG\.)[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
        _fixed("sendgrid_key"),
        ("sg.",),
    ),
    _Rule(
        re.compile(r"(?i)(?P<keep>\bbearer\s+)(?P<secret>[A-Za-z0-9._~+/-]{8,}=*)"),
        _random_token("token"),
        ("bearer",),
    ),
    _Rule(
        re.compile(
            r"(?i)(?P<keep>\bauthorization\s*[:=]\s*(?:basic|digest|token|apikey|sso-key)\s+)"
            r"(?P<secret>\S+)"
        ),
        _prefix_kept("credentials"),
        ("authorization",),
    ),
    # scheme://user:password@host (the user and host stay); redis://:password@host too.
    _Rule(
        re.compile(r"(?P<keep>://[^\s:/@'\"<>]*:)(?P<secret>[^\s@/'\"<>]+)(?=@)"),
        _prefix_kept("password"),
        ("://",),
    ),
    # Credentials in a URL's query string: ?access_token=x&sig=y
    _Rule(
        re.compile(
            r"(?i)(?P<keep>[?&](?:access_token|id_token|refresh_token|token|api_key|apikey|"
            r"api-key|key|sig|signature|password|passwd|pwd|secret|client_secret|auth)=)"
            r"(?P<secret>[^&\s#\"'<>]+)"
        ),
        _prefix_kept("credentials"),
        ("token=", "key=", "sig=", "signature=", "pass", "pwd=", "secret=", "auth="),
    ),
    # ADO.NET / ODBC / JDBC: "Password=my pass word;" (spaces allowed before the ';').
    _Rule(
        re.compile(
            r"(?i)(?P<keep>(?<![A-Za-z0-9])(?:password|pwd|account\s?key|shared\s?access\s?key)"
            r"\s*=\s*)(?P<secret>\{[^}\n]*\}|[^;\r\n]*?[^;\s])(?=\s*;)"
        ),
        _prefix_kept("password"),
        ("password", "pwd", "accountkey", "account key", "sharedaccesskey", "shared access key"),
    ),
    # <password>x</password>
    _Rule(
        re.compile(
            r"(?i)(?P<keep><(?P<element>(?:\w+:)?(?:password|passwd|pwd|secret|token|"
            r"api[_-]?key|client[_-]?secret))>)(?P<secret>[^<]+)(?=</(?P=element)>)"
        ),
        _prefix_kept("password"),
        ("</",),
    ),
)


# Labelled secrets: "password: x", "the password is x", "api_key=x". ---------------------------

# Words for "password" in the languages MSP tickets commonly arrive in; these also name a
# password in a sentence ("the password is x", "das Passwort lautet x").
_PASSWORD_WORDS = (
    r"password|passwort|passwd|passphrase|passcode|kennwort|wachtwoord|contrase[ñn]a|senha|"
    r"mot\s+de\s+passe|l[öo]senord|adgangskode|salasana|has[łl]o|heslo|пароль"
)
# Short or everyday words, and identifier-like ones (also at the end of an identifier:
# dbPassword, AWS_SECRET_ACCESS_KEY): only as a label followed by ':' or '='.
_LABEL_WORDS = (
    r"(?<![a-z0-9])(?:pass|pwd|pw|mdp|pin)|client[_-]?secret|secret|api[_-]?key|apikey|"
    r"access[_-]?key|secret[_-]?key|account[_-]?key|private[_-]?key|auth[_-]?token|"
    r"access[_-]?token|refresh[_-]?token|token|credentials?"
)
# A quoted value (spaces allowed), or everything up to white space or punctuation.
_VALUE = (
    r"""(?P<value>"[^"\n]{1,200}"|'[^'\n]{1,200}'|`[^`\n]{1,200}`|\{[^}\n]{1,200}\}"""
    r"""|[^\s"'`<>,;]+)"""
)
# ':', '=', '=>', ':=', the fullwidth colon of CJK text; a closing quote of a JSON key.
_ASSIGN = r"""(?P<assign>["']?[ \t]*(?:=>|:=|[:=\uff1a])[ \t]*)"""
# "password for srv-dc01 is x", "Passwort lautet x", "password is now x", "reset to x".
_SENTENCE = (
    r"(?P<sentence>(?:\s+(?:for|of|on|für|pour|para|voor|van)(?:\s+[^\s:=.,;!?]{1,40}){1,3}?)?"
    r"\s+(?:is|was|ist|war|lautet|est|était|es|era|é|set\s+to|reset\s+to|changed\s+to)"
    r"[ \t]*:?[ \t]+(?:(?:now|still|currently|jetzt|maintenant|ahora|agora)[ \t]+)?)"
)
# "temporary password Summer2024!", "reset his password to Welcome1": credential-like only.
_FOLLOWED = r"(?P<followed>(?:\s+to)?[ \t]+)"

_PASSWORD_PAIR = re.compile(
    rf"(?P<key>{_PASSWORD_WORDS})(?P<sep>{_ASSIGN}|{_SENTENCE}|{_FOLLOWED}){_VALUE}",
    re.IGNORECASE,
)
_LABEL_PAIR = re.compile(rf"(?P<key>{_LABEL_WORDS})(?P<sep>{_ASSIGN}){_VALUE}", re.IGNORECASE)
# Where a pair may start: the first letters of every keyword above, searched
# case-sensitively in the lower-cased text, each then tried with the patterns. None is
# the start of another, so at most one matches at any position, in whatever order they
# are tried. Non-ASCII words have a pattern of their own: in one alternation they slow
# the whole scan down.
_PAIR_WORDS = (
    *("pass", "pw", "mdp", "pin", "kennwort", "wachtwoord", "contrase", "senha", "mot"),
    *("losenord", "adgangskode", "salasana", "haslo", "heslo", "client", "secret", "api"),
    *("access", "account", "private", "auth", "refresh", "token", "credential"),
)
_PAIR_WORDS_NON_ASCII = ("lösenord", "hasło", "пароль")
_PAIR_START = _any_of(_PAIR_WORDS)
_PAIR_START_NON_ASCII = _any_of(_PAIR_WORDS_NON_ASCII)


def _pair_starts(lower: str, begin: int) -> list[int]:
    starts = [m.start() for m in _PAIR_START.finditer(lower, begin)]
    if not lower.isascii():
        found = _PAIR_START_NON_ASCII.finditer(lower, begin)
        starts = sorted([*starts, *(m.start() for m in found)])
    return starts


def _kind(keyword: str) -> str:
    word = keyword.lower()
    if word == "pin":
        return "pin"
    if "token" in word:
        return "token"
    if "secret" in word and "key" not in word:
        return "secret"
    if "private" in word:
        return "private_key"
    if "key" in word:
        return "api_key"
    if "credential" in word:
        return "credentials"
    return "password"


_PLACEHOLDER = re.compile(r"[$%(<]|\{\{|[A-Za-z_][\w.]*\(")  # ${VAR}, (unset), <none>, f(x)
_PIN = re.compile(r"\d{4,12}")
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+:?")  # software.amazon.SdkException


def _accepts(keyword: str, secret: str, followed: bool) -> bool:
    """Whether `secret`, labelled by `keyword`, is a secret rather than prose or code."""
    if not secret or _PLACEHOLDER.match(secret):
        return False
    kind = _kind(keyword)
    if followed:
        return _looks_secret(secret)
    if kind == "pin":
        return bool(_PIN.fullmatch(secret))
    if kind == "password":
        return not _plain_word(secret)
    # Tokens and keys are random: digits or symbols in them, or length; not a code name.
    if _plain_word(secret) or _DOTTED_NAME.fullmatch(secret):
        return False
    return _looks_secret(secret) or len(secret) >= 16


def _masked_pair(match: re.Match[str]) -> str | None:
    """The pair with its value masked; None when the value is not a secret."""
    value = match["value"]
    if _is_masked(value):
        return None
    if value[0] in "\"'`{":
        opening, secret, closing = value[0], value[1:-1], value[-1]
    else:
        opening, (secret, closing) = "", _split_tail(value)
    followed = match.groupdict().get("followed") is not None
    if not _accepts(match["key"], secret, followed):
        return None
    return f"{match['key']}{match['sep']}{opening}{tag(_kind(match['key']))}{closing}"


def _redact_pairs(text: str, begin: int = 0) -> str:
    """`text` with its labelled secrets masked; no pair-start word stands before `begin`."""
    lower = text.lower()
    if len(lower) != len(text):
        # Lower-casing changed some character's length (İ): positions would not line up.
        for pattern in (_PASSWORD_PAIR, _LABEL_PAIR):
            text = pattern.sub(lambda m: _masked_pair(m) or m[0], text)
        return text
    starts = _pair_starts(lower, begin)
    if not starts:
        return text
    parts: list[str] = []
    done = 0
    for start in starts:
        if start < done:
            continue
        for pattern in (_PASSWORD_PAIR, _LABEL_PAIR):
            match = pattern.match(text, start)
            masked = _masked_pair(match) if match is not None else None
            if match is not None and masked is not None:
                parts += [text[done : match.start()], masked]
                done = match.end()
                break
    parts.append(text[done:])
    return "".join(parts)


# Personal data ------------------------------------------------------------------------------

_DATE_LIKE = re.compile(r"\d{1,4}([-/. ])\d{1,2}\1\d{1,4}")


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _not_a_phone(number: str, low: int, high: int) -> bool:
    return (
        not low <= _digits(number) <= high or bool(_DATE_LIKE.fullmatch(number)) or _is_ip(number)
    )


def _phone(low: int, high: int) -> Replace:
    return lambda match: match[0] if _not_a_phone(match[0], low, high) else PHONE


def _labelled_phone(match: re.Match[str]) -> str:
    return match[0] if _not_a_phone(match["number"], 5, 15) else f"{match['keep']}{PHONE}"


# A phone number ends at a word boundary that is not part of a longer token (a MAC address
# 01-23-45-67-89-ab, a version 030 1234567.2).
_END = r"(?!\w|[.-]\w)"

_PERSONAL_RULES = (
    # Not the user of a URL (ftp://bob@host): that belongs to the connection and is kept.
    _Rule(
        re.compile(
            r"(?<![\w.+%-])(?<!//)[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-])"
        ),
        lambda match: EMAIL,
        ("@",),
    ),
    _Rule(
        re.compile(
            r"(?i)(?P<keep>(?<!\w)(?:tel|phone|telephone|mobile?|mob|cell|handy|fax|telefon|"
            r"telefono|teléfono|téléphone|tél)\.?\s*(?:no\.?|number|nr\.?|#)?\s*[:.]?\s*)"
            r"(?P<number>\+?\(?\d[\d ()/.-]{4,18}\d)"
        ),
        _labelled_phone,
        ("tel", "phone", "mob", "cell", "handy", "fax", "tél"),
    ),
    # International: +49 30 1234567, +1 (555) 123-4567, +442079460958.
    _Rule(
        re.compile(rf"\+(?<![\w+]\+)\d{{1,3}}(?:[ .-]?\(\d{{1,4}}\)|[ .-]?\d{{1,5}}){{2,6}}{_END}"),
        _phone(8, 15),
    ),
    # International with 00 and separators: 0049 30 1234567 (not order number 0012345678).
    _Rule(
        re.compile(rf"00(?<![\w.+-]00)[1-9]\d{{0,2}}(?:[ .-]\(?\d{{1,8}}\)?){{2,6}}{_END}"),
        _phone(8, 15),
    ),
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567.
    _Rule(
        re.compile(
            r"(?:\((?<![\w.+-]\()\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
            r"|\d(?<![\w.+-]\d)\d{2}(?P<s>[-. ])\d{3}(?P=s)\d{4})" + _END
        ),
        _phone(10, 10),
    ),
    # French: 01 23 45 67 89, 06.12.34.56.78.
    _Rule(
        re.compile(rf"0(?<![\w.+-]0)[1-9](?P<f>[ .-])\d{{2}}(?:(?P=f)\d{{2}}){{3}}{_END}"),
        _phone(10, 10),
    ),
    # National with a trunk 0: 030 1234567, 0171/1234567, 020 7946 0958, (089) 12 34 56.
    _Rule(
        re.compile(
            r"(?:\((?<![\w.+/-]\()0\d{1,4}\)[ /-]?|0(?<![\w.+/-]0)\d{1,4}[ /-])\d{2,}"
            rf"(?:[ -]\d{{2,}}){{0,3}}{_END}"
        ),
        _phone(7, 13),
    ),
)


# Applying the rules -------------------------------------------------------------------------


def _apply(rules: Iterable[_Rule], text: str) -> str:
    lower = text.lower()
    for rule in rules:
        text = rule.apply(text, lower)
    return text


# Every shape rule has triggers, so text holding none of them skips all the shapes: most
# ticket fields ("High", a requester's name) pay one scan for them, not a dozen.
_SHAPE_TRIGGERS = tuple(sorted({t for rule in _SHAPES for t in rule.triggers}))
_SHAPE_TRIGGER = _any_of(_SHAPE_TRIGGERS)


# Every match of a shape holds one of its triggers and every labelled pair starts at a
# pair-start word, all found in the lower-cased text; so when lower-casing keeps every
# position, text holding none of them is masked as it is. One scan tells that, where the
# tests below cost several microseconds even for "High" or a requester's name.
_MAY_HOLD_SECRET = _any_of([*_SHAPE_TRIGGERS, *_PAIR_WORDS, *_PAIR_WORDS_NON_ASCII])


def holds_no_secret(text: str) -> bool:
    """True when one scan tells that redact_secrets(text) is `text` itself. Text made by
    joining several holds every word that one of them holds, so True for the joined text
    is True for each of them."""
    lower = text.lower()
    return len(lower) == len(text) and _MAY_HOLD_SECRET.search(lower) is None


def redact_secrets(text: str) -> str:
    """Credentials masked: passwords, API keys and tokens, connection strings, private keys."""
    lower = text.lower()
    first = _MAY_HOLD_SECRET.search(lower)
    if first is None:
        return text if len(lower) == len(text) else _redact_pairs(text)
    # Every shape trigger and pair-start word is one of _MAY_HOLD_SECRET's words, so none
    # starts before the first of them: the scans for them start there, in the text as it
    # is (masking a shape moves what follows).
    if _SHAPE_TRIGGER.search(lower, first.start()) is not None:
        masked = _apply(_SHAPES, text)
        if masked != text:
            return _redact_pairs(masked)
    return _redact_pairs(text, first.start())


def redact_personal(text: str) -> str:
    """E-mail addresses and phone numbers masked; IP addresses, dates, versions kept."""
    return _apply(_PERSONAL_RULES, text)


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    usable = sorted({n.strip() for n in names if len(n.strip()) >= 3}, key=len, reverse=True)
    if not usable:
        return None
    alternatives = "|".join(r"\s+".join(map(re.escape, n.split())) for n in usable)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


class Redactor:
    """Credentials always; with `personal`, e-mail addresses, phone numbers and `names`."""

    def __init__(self, *, personal: bool = False, names: Iterable[str] = ()) -> None:
        self.personal = personal
        self._names = _name_pattern(names) if personal else None

    def text(self, text: str) -> str:
        text = redact_secrets(text)
        if not self.personal:
            return text
        # Secrets first: the user:password@host of a URL must not read as an e-mail address.
        text = redact_personal(text)
        return self._names.sub(NAME, text) if self._names is not None else text

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def value(self, value: Any) -> Any:
        """Every string in a JSON-like value masked (dict keys too); other values as they are."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        return value
