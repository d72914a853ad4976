"""Secrets never leave the building: redact credentials from text before it goes anywhere.

Every text the bot sends to Claude, or echoes back into Slack, goes through :func:`redact`
first. Each secret found is replaced by a labelled placeholder such as
``[REDACTED aws-access-key]``; :class:`Redaction` carries the new text and how many of each
kind were replaced, and :meth:`Redaction.summary` tells the user what kinds were taken out
(never the values), e.g. ``Redacted before sending: 2 AWS access keys, 1 password in a URL.``

What is caught (kind in brackets):

- tokens with a recognisable shape, wherever they appear: AWS access key ids
  (``AKIA…``/``ASIA…``) [aws-access-key]; Slack tokens ``xoxb-``/``xoxp-``/``xoxa-``/``xoxr-``/
  ``xoxe-``/``xapp-`` [slack-token] and Slack webhook URLs [slack-webhook, the host stays];
  GitHub ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_``/``github_pat_`` [github-token]; Anthropic
  ``sk-ant-…`` [anthropic-key]; OpenAI ``sk-…``/``sk-proj-…`` [openai-key]; JWTs whose header
  decodes to JSON [jwt]; Google API keys ``AIza…``, Stripe and SendGrid keys [api-key];
  GitLab, npm, PyPI, Docker Hub and Hugging Face tokens [token];
- private-key blocks, ``-----BEGIN … PRIVATE KEY-----`` to ``-----END … PRIVATE KEY-----``
  (PKCS#8, RSA, EC, DSA, OpenSSH, encrypted, PGP), the whole block, also when it is JSON-escaped
  (``\\n``), inside a diff (``+`` on every line) or cut off before its END line [private-key];
  in a GCP service-account JSON the ``private_key`` value [gcp-service-account-key] and the
  ``private_key_id`` [gcp-service-account-key-id];
- the password part of a URL's user-info (``postgres://app:PASSWORD@db``,
  ``mongodb+srv://…``, ``redis://:PASSWORD@…``, ``amqp://…``): only the password is replaced
  so the host stays readable [url-password];
- assignments whose *name* ends in a secret word and whose *value* is a literal that looks
  like a credential, in any common syntax: ``KEY=value`` (.env, shell, Dockerfile ENV,
  properties, ``?password=…&``), ``key: value`` (YAML, Go/JS/Ruby literals), ``"key": "value"``
  (JSON), ``key = "value"`` (Python, TOML, HCL, Java, C#), ``key := "value"`` (Go),
  ``key => 'value'``, ``password: str = "…"``, ``getenv("API_TOKEN", "default")``,
  ``--password value``/``--token=value``, ``mysql -pVALUE``, ``curl -u user:VALUE``,
  ``Authorization: Bearer …``, ``.netrc``, SQL ``PASSWORD '…'``/``IDENTIFIED BY '…'``,
  ``<password>…</password>``, and Kubernetes/ECS ``name: DB_PASSWORD`` + ``value: …`` pairs.
  The kind comes from the name: password, secret, token, api-key (and aws-secret-key for a
  40-character AWS-shaped value under a secret-access-key name).

What is deliberately left alone: a value that is not a literal (``request.form["password"]``,
``get_token()``, ``settings.DB_PASSWORD``, ``os.environ[…]``, a bare identifier), a
reference or template (``$VAR``, ``${VAR}``, ``{{ .Token }}``, ``%(pw)s``, ``<your password
here>``), names that merely contain a secret word (``password_hash``, ``secret_name``,
``max_tokens``, ``cache_key``), file paths, version numbers, and a value that does not look
like a credential: shorter than 6 characters (8 for non-passwords), a single character class
(all lowercase letters, all digits, ``CONSTANT_CASE``), low entropy, or a stock placeholder.
So ``PASSWORD=changeme`` in docs is *kept*: a one-word lowercase value is far more often a
placeholder or a name than a secret, and redacting every such value would mangle ordinary
code and docs; the price is that a real password that is a bare dictionary word in an
assignment goes through (in a URL it is still redacted: there any literal password is).
Long random strings that are not near a secret word (git SHAs, UUIDs, base64 fixtures,
sha512 integrity hashes) are left alone too, so an unlabelled secret in an unlabelled place
is not caught.

Guarantees: deterministic (the same text always gives the same output: the rules are a
fixed, ordered table and overlaps are resolved by a fixed priority), idempotent (no rule
matches a placeholder, so redacting redacted text changes nothing), one pass over the text
per rule with no per-line Python loop (about 20 ms for 200 KB of code; see
``bench/redaction_corpus.py``), and no I/O of any kind.

Why not detect-secrets (1.5.0, evaluated with its source read in site-packages): its
plugins yield secret *values* per line, not spans, so every hit must be searched for again
in the text; its keyword rules change with the file name's extension, which a Slack message
does not have; its global settings singleton is not thread-safe; its plugins carry
``verify()`` code that POSTs candidate secrets to Slack, AWS and others when verification is
switched on, the opposite of what this module is for; it is too slow (its file scan takes
about 850 ms on 200 KB of code here, against a budget of well under 100 ms); it has no rule
for Anthropic keys, ``xapp-`` Slack tokens, ``github_pat_`` tokens, GCP service-account keys,
``token = …`` assignments or whole private-key blocks (it flags only the BEGIN line); and its
keyword plugin has no notion of a literal, flagging ``secret_name = "db-credentials"`` and,
in YAML, ``password: request.form["password"]``. Keeping its few useful regexes and adding
everything it misses would leave more of our rules than of its, so this is our own rule
table, with its regexes (AWS prefixes, Slack webhooks, JWT shape check) as a starting point.
"""

from __future__ import annotations

import base64
import bisect
import binascii
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Iterator, Mapping

__all__ = ["KINDS", "Redaction", "redact"]


# ---------------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------------

# kind -> (singular, plural) as the summary names them; the order is the summary's order.
KINDS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "private-key": ("private key", "private keys"),
    "gcp-service-account-key": ("GCP service-account key", "GCP service-account keys"),
    "gcp-service-account-key-id": ("GCP service-account key id", "GCP service-account key ids"),
    "aws-access-key": ("AWS access key", "AWS access keys"),
    "aws-secret-key": ("AWS secret key", "AWS secret keys"),
    "anthropic-key": ("Anthropic API key", "Anthropic API keys"),
    "openai-key": ("OpenAI API key", "OpenAI API keys"),
    "github-token": ("GitHub token", "GitHub tokens"),
    "slack-token": ("Slack token", "Slack tokens"),
    "slack-webhook": ("Slack webhook URL", "Slack webhook URLs"),
    "jwt": ("JSON Web Token", "JSON Web Tokens"),
    "url-password": ("password in a URL", "passwords in URLs"),
    "password": ("password", "passwords"),
    "secret": ("secret", "secrets"),
    "token": ("token", "tokens"),
    "api-key": ("API key", "API keys"),
})

PLACEHOLDER = "[REDACTED {kind}]"


@dataclass(frozen=True)
class Redaction:
    text: str                                        # the input with secrets replaced
    counts: Mapping[str, int] = field(hash=False)    # kind -> how many were replaced (read-only)

    @property
    def any(self) -> bool:
        return bool(self.counts)

    def summary(self) -> str:
        """``Redacted before sending: 2 AWS access keys, 1 password in a URL.``; "" when nothing."""
        if not self.counts:
            return ""
        parts = []
        for kind, n in self.counts.items():
            singular, plural = KINDS.get(kind, (kind, kind + "s"))
            parts.append(f"{n} {singular if n == 1 else plural}")
        return "Redacted before sending: " + ", ".join(parts) + "."


# ---------------------------------------------------------------------------------------------
# Telling a credential from a name, a reference or a placeholder
# ---------------------------------------------------------------------------------------------

_REFERENCE = re.compile(
    r"""^(?:
        \$\{[^}]*\}? | \$\([^)]*\)? | \$[A-Za-z_]\w* | \$\$?[A-Za-z_{(]   # $VAR ${VAR} $(cmd)
      | \{\{.*\}\}? | \{%.*                                               # {{ .Token }} {% … %}
      | \{[A-Za-z_][\w.]*\} | %\([\w.]+\)[sdr] | %[sdr] | %[A-Za-z_]\w*%  # {name} %(pw)s %s %VAR%
      | <[^>]*>? | \[[^\]]*\]? | \#\{[^}]*\}?                              # <your password> [..] #{x}
      | (?:env|secret|var|vault|ref|file)\s*[:(].*                        # env:FOO  secret(...)
    )$""",
    re.VERBOSE | re.IGNORECASE,
)
_PLACEHOLDER_WORD = re.compile(
    r"""^(?:
        changeme | change[_-]?me | change[_-]?this | password\d* | passw0rd | secret | token
      | example | sample | dummy | placeholder | redacted | masked | hidden | todo | tbd | fixme
      | none | null | nil | undefined | empty | true | false | yes | no | on | off | default
      | test | testing | required | optional | string | str | bytes | text | value | foo | bar
      | (?:your|my|some|the|insert|enter|replace|put)[\W_].* | .*[\W_](?:here|goes[\W_]here)
      | \*+ | x+ | X+ | \.+ | …+ | -+ | _+ | 0+ | (?:xx+|\*\*+|\.\.\.+|…).* | .*(?:xxxx|\*\*\*|\.\.\.|…).*
    )$""",
    re.VERBOSE | re.IGNORECASE,
)
_PATH = re.compile(r"^(?:/|\./|\.\./|~/|[A-Za-z]:\\)[\w./\\ -]*$|^[\w.-]+/[\w./-]+\.\w{2,5}$")
_VERSION = re.compile(r"^[\^~=<>v]*\d+(?:\.\d+)+(?:[-+][\w.]+)?$")
_DOTTED_NAME = re.compile(r"^[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)+$")
_CONSTANT_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z_$]*$")  # letters and underscores only, no digits


def _entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _char_classes(s: str) -> int:
    lower = upper = digit = symbol = False
    for ch in s:
        if ch.islower():
            lower = True
        elif ch.isupper():
            upper = True
        elif ch.isdigit():
            digit = True
        elif ch not in "_-.":
            symbol = True
    return lower + upper + digit + symbol


def looks_like_credential(value: str, kind: str, *, quoted: bool) -> bool:
    """Whether a literal assigned to a secret-sounding name is worth redacting."""
    if "[REDACTED" in value or not value:
        return False
    if any(ch.isspace() for ch in value):          # sentences, prompts, help texts
        return False
    if len(value) < (6 if kind == "password" else 8) or len(value) > 512:
        return False
    if (_REFERENCE.match(value) or _PLACEHOLDER_WORD.match(value) or _PATH.match(value)
            or _VERSION.match(value)):
        return False
    if not quoted and (_DOTTED_NAME.match(value) or _CONSTANT_NAME.match(value)
                       or _IDENTIFIER.match(value)):
        return False                                # code, not a literal: settings.X, userPassword
    if _char_classes(value) < 2:                    # changeme, 12345678, db-credentials
        return False
    return _entropy(value) >= 2.3


def _mixed(body: str) -> bool:
    """A random-looking token body (not `your-api-key-here`)."""
    return _char_classes(body) >= 2 and not _PLACEHOLDER_WORD.match(body)


# ---------------------------------------------------------------------------------------------
# Secret names -> kinds
# ---------------------------------------------------------------------------------------------

# Name suffixes (lowercased, separators removed) that make an assignment secret, longest first.
_NAME_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("secretaccesskey", "aws-secret-key"),
    ("subscriptionkey", "api-key"),
    ("encryptionkey", "secret"),
    ("passphrase", "password"),
    ("privatekey", "secret"),
    ("signingkey", "secret"),
    ("accountkey", "secret"),
    ("servicekey", "api-key"),
    ("password", "password"),
    ("secretkey", "secret"),
    ("masterkey", "secret"),
    ("clientkey", "secret"),
    ("accesskey", "api-key"),
    ("passwd", "password"),
    ("secret", "secret"),
    ("apikey", "api-key"),
    ("authkey", "api-key"),
    ("appkey", "secret"),
    ("token", "token"),
)
# Short words that count only as a whole component of the name: DB_PASS, dbPass, --pwd, pw.
_COMPONENT_WORDS = re.compile(r"(?:^|[_.\-]|(?<=[a-z0-9]))(pass|Pass|PASS|pwd|Pwd|PWD|pw|Pw|PW|auth|Auth|AUTH)$")
_COMPONENT_KIND = {"pass": "password", "pwd": "password", "pw": "password", "auth": "token"}
_AWS_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9/+]{40}$")


def kind_for_name(name: str) -> str | None:
    """password/secret/token/api-key (or aws-secret-key) for a secret-sounding name, else None."""
    bare = name.strip("-$@:\"'`[]")
    norm = re.sub(r"[_.\-\s]", "", bare).lower()
    for suffix, kind in _NAME_SUFFIXES:
        if norm.endswith(suffix):
            return kind
    m = _COMPONENT_WORDS.search(bare)
    if m:
        word = m.group(1).lower()
        # camel case needs the capital: dbPass yes, bypass/compass no
        if m.start(1) == 0 or bare[m.start(1) - 1] in "_.-" or m.group(1)[0].isupper():
            return _COMPONENT_KIND[word]
    return None


def _refine_kind(kind: str, name: str, value: str) -> str:
    norm = re.sub(r"[_.\-\s]", "", name).lower()
    if kind in ("secret", "aws-secret-key") and _AWS_SECRET_SHAPE.match(value):
        if "aws" in norm or norm.endswith(("secretaccesskey", "secretkey")):
            return "aws-secret-key"
    if kind == "aws-secret-key" and not _AWS_SECRET_SHAPE.match(value):
        return "secret"
    return kind


# ---------------------------------------------------------------------------------------------
# The rule table
# ---------------------------------------------------------------------------------------------

# A finder yields (start, end, kind) spans to replace; lower priority number wins an overlap.
Span = tuple[int, int, str]


@dataclass(frozen=True)
class Rule:
    name: str
    priority: int
    find: Callable[[str], Iterator[Span]]


def _pattern_rule(name: str, priority: int, kind: str, pattern: str, flags: int = 0,
                  group: str | int = 0, check: Callable[[re.Match[str]], bool] | None = None) -> Rule:
    regex = re.compile(pattern, flags)

    def find(text: str) -> Iterator[Span]:
        for m in regex.finditer(text):
            if check is None or check(m):
                yield m.start(group), m.end(group), kind
    return Rule(name, priority, find)


# ---- private keys -------------------------------------------------------------------------
# Between BEGIN and END: anything (plain lines, "\n"-escaped JSON, "+"-prefixed diff lines).
_PEM_BLOCK = (r"-----BEGIN[ ](?P<label>[A-Z0-9 ]*?)PRIVATE[ ]KEY(?P<blk>[ ]BLOCK)?-----"
              r"[\s\S]{0,20000}?"
              r"-----END[ ](?P=label)PRIVATE[ ]KEY(?P=blk)?-----")
# No END line (pasted half, or cut by Slack): the header and the base64-looking lines after it.
_PEM_TRUNCATED = (r"-----BEGIN[ ][A-Z0-9 ]*?PRIVATE[ ]KEY(?:[ ]BLOCK)?-----"
                  r"(?:(?:\r?\n|\\n)[ \t+\-]?[ \t\"']*"
                  r"(?:[A-Za-z0-9+/=]{16,}|[A-Z][\w-]*:[^\r\n\\]*|)[\"',]?[ \t]*(?=\r?\n|\\n|$))*")

_GCP_PRIVATE_KEY = (r"[\"']private_key[\"']\s*:\s*\"(?P<v>-----BEGIN[^\"]{0,20000}?PRIVATE KEY-----"
                    r"[^\"]{0,20000}?-----END[^\"]{0,40}?PRIVATE KEY-----(?:\\n)?)\"")
_GCP_KEY_ID = r"\bprivate_key_id[\"']?\s*[:=]\s*[\"']?(?P<v>[0-9a-f]{40})(?![0-9a-zA-Z])"

# ---- tokens with a recognisable shape -------------------------------------------------------
_AWS_ACCESS_KEY = r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])"
_AWS_SECRET_PROSE = (r"(?i:\baws[ _-]?secret(?:[ _-]?access)?[ _-]?key|\bsecret[ _-]?access[ _-]?key)"
                     r"[\"']?\s*(?:[:=]|\bis\b)?\s*[\"']?(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")
_SLACK_TOKEN = (r"(?<![\w-])(?:(?:xox[abposre]|xoxe\.xox[bp])-\d[A-Za-z0-9-]{8,}"
                r"|xapp-\d-[A-Za-z0-9-]{10,})(?![\w-])")
_SLACK_WEBHOOK = (r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/"
                  r"(?P<v>T[A-Z0-9]{6,}/[A-Za-z0-9_/-]{10,})")
_GITHUB_TOKEN = r"(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{30,251})(?![\w-])"
_ANTHROPIC_KEY = r"(?<![\w-])sk-ant-(?P<body>[A-Za-z0-9_-]{20,})(?![\w-])"
_OPENAI_KEY = (r"(?<![\w-])sk-(?!ant-)(?:(?:proj|svcacct|admin|None)-)?"
               r"(?P<body>[A-Za-z0-9_-]{32,})(?![\w-])")
_JWT = r"(?<![\w-])(?P<h>eyJ[A-Za-z0-9_-]{5,})\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*(?![\w-])"
_GOOGLE_API_KEY = r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])"
_VENDOR_API_KEY = (r"(?<![\w-])(?:[sr]k_(?:live|test)_[A-Za-z0-9]{20,}"
                   r"|SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64})(?![\w-])")
_VENDOR_TOKEN = (r"(?<![\w-])(?:glpat-[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{36}|dckr_pat_[A-Za-z0-9_-]{20,}"
                 r"|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{40,}|hf_[A-Za-z0-9]{30,})(?![\w-])")

# ---- credentials in URLs ----------------------------------------------------------------------
_URL_PASSWORD = (r"\b[A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s:/?#@'\"<>\[\]|]{0,256}:"
                 r"(?P<v>[^\s/?#@'\"<>|]{1,256})@(?=[\w\[.-])")

# ---- assignments: NAME <sep> VALUE ------------------------------------------------------------
_VALUE = (r"(?:\"(?P<v1>[^\"\n]{0,512})\"|'(?P<v2>[^'\n]{0,512})'|`(?P<v3>[^`\n]{0,512})`"
          r"|(?P<v4>[^\s'\"`,;()\[\]{}<>&|]{1,512})(?=[\s,;)\]}&|]|$))")
_ASSIGNMENT = re.compile(
    r"(?<![\w.\-])(?P<key>[\w.\-]*?(?:pass(?:word|wd|phrase)?|pwd|pw|secret|token|key|auth))"
    r"(?![\w.\-])(?P<kq>[\"'`]?)\]?"
    r"(?:[ \t]*:[ \t]*(?:str|string|String|SecretStr|Optional\[str\]|str[ \t]*\|[ \t]*None)"
    r"|[ \t]+(?:string|String|str))?"
    r"(?P<ws>[ \t]*)(?P<sep>:=|=>|===?|!==?|=|:|,)?(?P<ws2>[ \t]*)@?" + _VALUE,
    re.IGNORECASE,
)


def _assignment_value(m: re.Match[str]) -> tuple[str, int, int, bool] | None:
    for g, quoted in (("v1", True), ("v2", True), ("v3", True), ("v4", False)):
        if m.group(g) is not None:
            return m.group(g), m.start(g), m.end(g), quoted
    return None


def _find_assignments(text: str) -> Iterator[Span]:
    for m in _ASSIGNMENT.finditer(text):
        key, sep = m.group("key"), m.group("sep")
        found = _assignment_value(m)
        if found is None:
            continue
        value, start, end, quoted = found
        if sep is None:                       # whitespace only: flags (--password VALUE)
            if not key.startswith("-") or not m.group("ws"):
                continue
        elif sep == ",":                      # getenv("API_TOKEN", "default"), define('X', 'y')
            if not (m.group("kq") and quoted):
                continue
        elif sep == ":" and not quoted and not m.group("ws2"):
            continue                          # key:value without a space: not YAML (a URL, a log)
        kind = kind_for_name(key)
        if kind is None:
            continue
        if looks_like_credential(value, kind, quoted=quoted):
            yield start, end, _refine_kind(kind, key, value)


# name: DB_PASSWORD / value: "…" (Kubernetes env, ECS task definitions, Terraform blocks)
_ENV_PAIR = re.compile(
    r"\bname[\"']?[ \t]*[:=][ \t]*[\"']?(?P<key>[\w.\-]*(?i:pass(?:word|wd)?|secret|token|key))[\"']?"
    r"[ \t]*,?[ \t]*(?:\r?\n[ \t+\-]*)?[\"']?value[\"']?[ \t]*[:=][ \t]*" + _VALUE,
)


def _find_env_pairs(text: str) -> Iterator[Span]:
    for m in _ENV_PAIR.finditer(text):
        kind = kind_for_name(m.group("key"))
        found = _assignment_value(m)
        if kind and found and looks_like_credential(found[0], kind, quoted=found[3]):
            yield found[1], found[2], _refine_kind(kind, m.group("key"), found[0])


def _credential_rule(name: str, priority: int, kind: str, pattern: str, flags: int = 0) -> Rule:
    """A pattern with a group `v` that is redacted when it looks like a credential."""
    regex = re.compile(pattern, flags)

    def find(text: str) -> Iterator[Span]:
        for m in regex.finditer(text):
            value = m.group("v")
            quoted = m.start("v") > 0 and text[m.start("v") - 1] in "\"'"
            if looks_like_credential(value, kind, quoted=quoted):
                yield m.start("v"), m.end("v"), kind
    return Rule(name, priority, find)


def _find_xml(text: str) -> Iterator[Span]:
    for m in _XML.finditer(text):
        kind = kind_for_name(m.group("tag").split(":")[-1])
        if kind and looks_like_credential(m.group("v"), kind, quoted=True):
            yield m.start("v"), m.end("v"), kind


_XML = re.compile(r"<(?P<tag>[\w:.\-]*(?i:password|passwd|secret|token|api_?key))>"
                  r"(?P<v>[^<\s]{6,512})</(?P=tag)>")


# ---- checks for shaped tokens -----------------------------------------------------------------
def _jwt_header_ok(m: re.Match[str]) -> bool:
    header = m.group("h")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return isinstance(decoded, dict) and ("alg" in decoded or "typ" in decoded)


def _body_mixed(m: re.Match[str]) -> bool:
    return _mixed(m.group("body"))


def _url_password_ok(m: re.Match[str]) -> bool:
    pw = m.group("v")
    if "[REDACTED" in pw or _REFERENCE.match(pw):
        return False
    return not re.fullmatch(r"\*+|x+|X+|\.+|…+|_+|-+", pw)


_RULES: tuple[Rule, ...] = (
    # Most specific first: an overlap goes to the lowest priority number.
    _pattern_rule("gcp private_key", 0, "gcp-service-account-key", _GCP_PRIVATE_KEY, group="v"),
    _pattern_rule("gcp private_key_id", 0, "gcp-service-account-key-id", _GCP_KEY_ID, group="v"),
    _pattern_rule("private key block", 1, "private-key", _PEM_BLOCK),
    _pattern_rule("private key, no END", 2, "private-key", _PEM_TRUNCATED),
    _pattern_rule("aws access key", 10, "aws-access-key", _AWS_ACCESS_KEY),
    _pattern_rule("slack webhook", 10, "slack-webhook", _SLACK_WEBHOOK, group="v"),
    _pattern_rule("slack token", 10, "slack-token", _SLACK_TOKEN),
    _pattern_rule("github token", 10, "github-token", _GITHUB_TOKEN),
    _pattern_rule("anthropic key", 10, "anthropic-key", _ANTHROPIC_KEY, check=_body_mixed),
    _pattern_rule("openai key", 11, "openai-key", _OPENAI_KEY, check=_body_mixed),
    _pattern_rule("google api key", 10, "api-key", _GOOGLE_API_KEY),
    _pattern_rule("vendor api key", 10, "api-key", _VENDOR_API_KEY),
    _pattern_rule("vendor token", 10, "token", _VENDOR_TOKEN),
    _pattern_rule("jwt", 12, "jwt", _JWT, check=_jwt_header_ok),
    _pattern_rule("url password", 20, "url-password", _URL_PASSWORD, group="v", check=_url_password_ok),
    _pattern_rule("aws secret key, prose", 25, "aws-secret-key", _AWS_SECRET_PROSE, group="v"),
    _credential_rule("authorization header", 30, "token",
                     r"(?i:\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?"
                     r"(?:bearer|basic|token|bot|digest)[ \t]+|\bbearer[ \t]+)"
                     r"(?P<v>[A-Za-z0-9._~+/=-]{8,})"),
    _credential_rule("mysql -p", 30, "password",
                     r"\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?[ \t]-p(?P<v>[^\s'\"]{4,})"),
    _credential_rule("curl -u", 30, "password",
                     r"(?:^|[ \t])(?:-u|--user)[ \t]+[\"']?[^\s:'\"]+:(?P<v>[^\s'\"]+)"),
    _credential_rule(".netrc", 30, "password",
                     r"\blogin\s+\S+\s+password\s+(?P<v>[^\s'\"]+)"),
    _credential_rule("sql password", 30, "password",
                     r"(?i:\b(?:password|identified[ \t]+by))[ \t]+'(?P<v>[^'\n]+)'"),
    Rule("env name/value pair", 35, _find_env_pairs),
    Rule("xml element", 35, _find_xml),
    Rule("assignment", 40, _find_assignments),
)


# ---------------------------------------------------------------------------------------------
# Redacting
# ---------------------------------------------------------------------------------------------

def _select(spans: list[tuple[int, int, int, str]]) -> list[tuple[int, int, str]]:
    """Non-overlapping spans, most specific rule first, then leftmost, then longest."""
    starts: list[int] = []     # accepted spans, kept sorted and disjoint
    ends: list[int] = []
    chosen: list[tuple[int, int, str]] = []
    for _, start, end, kind in sorted(spans, key=lambda s: (s[0], s[1], s[1] - s[2], s[3])):
        if end <= start:
            continue
        i = bisect.bisect_right(starts, start)
        if (i and ends[i - 1] > start) or (i < len(starts) and starts[i] < end):
            continue                                  # overlaps an accepted span
        starts.insert(i, start)
        ends.insert(i, end)
        chosen.append((start, end, kind))
    chosen.sort()
    return chosen


def redact(text: str) -> Redaction:
    """Replace every secret in `text` by ``[REDACTED <kind>]`` and count them by kind."""
    spans = [(rule.priority, start, end, kind)
             for rule in _RULES for start, end, kind in rule.find(text)]
    if not spans:
        return Redaction(text, MappingProxyType({}))
    pieces: list[str] = []
    counts: Counter[str] = Counter()
    at = 0
    for start, end, kind in _select(spans):
        pieces.append(text[at:start])
        pieces.append(PLACEHOLDER.format(kind=kind))
        counts[kind] += 1
        at = end
    pieces.append(text[at:])
    ordered = {kind: counts[kind] for kind in KINDS if kind in counts}
    return Redaction("".join(pieces), MappingProxyType(ordered))
