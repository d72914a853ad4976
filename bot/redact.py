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
  decodes to JSON [jwt]; Google ``AIza…``, Stripe live and SendGrid keys [api-key]; GitLab,
  npm, PyPI, Docker Hub and Hugging Face tokens [token];
- private-key blocks, ``-----BEGIN … PRIVATE KEY-----`` to ``-----END … PRIVATE KEY-----``
  (PKCS#8, RSA, EC, DSA, OpenSSH, encrypted, PGP): the whole block, also JSON-escaped
  (``\\n``), inside a diff (``+`` on every line) or cut off before its END line [private-key];
  in a GCP service-account JSON the ``private_key`` value [gcp-service-account-key] and the
  ``private_key_id`` [gcp-service-account-key-id];
- the password of a URL's user-info (``postgres://app:PASSWORD@db``, ``mongodb+srv://…``,
  ``redis://:PASSWORD@…``, ``amqp://…``): only the password, so the host stays readable
  [url-password];
- a value assigned to a name that ends in a secret word, when the value is a literal that
  looks like a credential, in any common syntax: ``KEY=value`` (.env, shell, properties,
  ``?password=…&``, ``Password=…;`` connection strings), ``key: value`` (YAML, Go/JS/Ruby
  literals), ``"key": "value"`` (JSON), ``key = "value"`` (Python, TOML, HCL, Java, C#),
  ``key := "value"`` (Go), ``key => 'value'``, ``password: str = "…"``, ``b"…"``/``f"…"``,
  ``getenv("API_TOKEN", "default")``, ``--password value``/``--token=value``, Dockerfile
  ``ENV NAME value``, "the password is …"; and, without such a name: ``mysql -pVALUE``,
  ``sshpass -p VALUE``, ``curl -u user:VALUE``, ``auth=("user", "VALUE")``,
  ``HTTPBasicAuth("user", "VALUE")``, ``Authorization: Bearer/Basic …``, ``.netrc``, SQL
  ``PASSWORD '…'``/``IDENTIFIED BY '…'``, ``<password>…</password>``, and Kubernetes/ECS
  ``name: DB_PASSWORD`` + ``value: …`` pairs. The kind comes from the name: password, secret,
  token or api-key (aws-secret-key for a 40-character AWS-shaped value under a
  secret-access-key name).

What is deliberately left alone: a value that is not a literal (``request.form["password"]``,
``get_token()``, ``settings.DB_PASSWORD``, ``os.environ[…]``, a bare identifier, an unquoted
comparison ``token == other``), a reference or template (``$VAR``, ``${VAR}``,
``{{ .Token }}``, ``%(pw)s``, ``<your password here>``), a raw string or regex, names that
merely contain a secret word (``password_hash``, ``secret_name``, ``max_tokens``,
``cache_key``), file paths, version numbers, and a value that does not look like a
credential: with whitespace, shorter than 6 characters (12 for anything but a password), a
plain word (``changeme``, ``Principal``, ``CONSTANT_CASE``), lowercase letters and
punctuation only, all digits, low entropy, or a stock placeholder (``xxxx``, ``****``,
``your-key-here``). So ``PASSWORD=changeme`` in docs is *kept*: a one-word value is far more
often a placeholder or a name than a secret, and redacting every such value would mangle
ordinary code and docs; the price is that a real password that is a plain word (or a
passphrase with spaces) in an assignment goes through. In a URL any literal password is
redacted except the words docs use for one (``user:password@``, ``user:pass@``). Long random
strings that are not near a secret word (git SHAs, UUIDs, base64 fixtures, sha512 integrity
hashes) are left alone, so a secret with neither a known shape nor a telling name (say a
positional argument, ``connect("db", "root", "…")``) is not caught.

Guarantees: deterministic (a fixed, ordered rule table; overlaps go to the most specific rule,
then the leftmost and longest span; no hashing-order dependence), idempotent (no rule matches
a placeholder, so redacting redacted text changes nothing), fast (each rule is one regex pass
that starts on a literal, or a pass from the hits of one; about 10 ms for 200 KB of code on
this project's 2-core machines, and under 200 ms for any pathological 200 KB tried; see
``bench/redaction_corpus.py``), thread-safe (no mutable state but an LRU cache), and no I/O.

Why not detect-secrets (1.5.0, evaluated with its source read in site-packages): its plugins
yield the secret *values* of a line, not spans, so every hit would have to be searched for
again in the text; its keyword rules change with the file name's extension, which a Slack
message does not have; it keeps global settings in a singleton; its plugins carry ``verify()``
code that POSTs candidate secrets to Slack, AWS and others when verification is switched on,
the opposite of what this module is for; it is too slow (its file scan takes about 800 ms on
200 KB of code here, against a budget of well under 100 ms); it has no rule for Anthropic
keys, ``xapp-`` Slack tokens, ``github_pat_`` tokens, GCP service-account keys, ``token = …``
assignments, URL passwords of its own kind or whole private-key blocks (it flags only the
BEGIN line); and its keyword plugin has no notion of a literal, flagging
``secret_name = "db-credentials"`` and, in YAML, ``password: request.form["password"]``. On
this module's corpus (``tests/redaction_corpus``) it reports 61 of the 88 planted secrets and
flags 5 things in the clean files (git SHAs, a checksum, a Secret's name), where this module
replaces all 88 and flags none. Keeping its few useful regexes and adding everything it
misses would leave more of our rules than of its, so this is our own rule table, with its
regexes (AWS key prefixes, Slack webhooks, the JWT shape check) as a starting point.
"""

from __future__ import annotations

import base64
import bisect
import binascii
import functools
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

_KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}
PLACEHOLDER = "[REDACTED {kind}]"


@dataclass(frozen=True)
class Redaction:
    text: str                                        # the input with secrets replaced
    counts: Mapping[str, int] = field(hash=False)    # kind -> how many were replaced (read-only)

    @property
    def any(self) -> bool:
        return any(n > 0 for n in self.counts.values())

    def summary(self) -> str:
        """``Redacted before sending: 2 AWS access keys, 1 password in a URL.``; "" when nothing.

        Kinds come in the order of :data:`KINDS` whatever the order of `counts`, so a summary
        built from several redactions' counts added up reads the same way."""
        parts = []
        for kind in sorted(self.counts, key=lambda k: (_KIND_ORDER.get(k, len(_KIND_ORDER)), k)):
            n = self.counts[kind]
            if n > 0:
                singular, plural = KINDS.get(kind, (kind, kind + "s"))
                parts.append(f"{n} {singular if n == 1 else plural}")
        return "Redacted before sending: " + ", ".join(parts) + "." if parts else ""


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
_REGEX = re.compile(r"\\[dwsbDWSB]|\[\^|\(\?|\]\{\d|\]\+|\]\*")
_VERSION = re.compile(r"^[\^~=<>v]*\d+(?:\.\d+)+(?:[-+][\w.]+)?$")
_DOTTED_NAME = re.compile(r"^[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)+$")
_CONSTANT_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_WORDS = re.compile(r"^[A-Za-z_$][A-Za-z_.$-]*$")    # identifiers and words: no digits, no symbols
_PLAIN_WORD = re.compile(r"^(?:[A-Z]?[a-z]+|[A-Z]+)$")


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
    if len(value) < (6 if kind == "password" else 12) or len(value) > 512:
        return False
    if (_REFERENCE.match(value) or _PLACEHOLDER_WORD.match(value) or _PATH.match(value)
            or _VERSION.match(value) or _REGEX.search(value)):
        return False
    if not quoted and (_DOTTED_NAME.match(value) or _CONSTANT_NAME.match(value)
                       or _WORDS.match(value) or value.endswith(":")):
        return False                                # code or prose: settings.X, userPassword, App-level
    if _PLAIN_WORD.match(value):                    # Principal, SECRET
        return False
    if _char_classes(value) < 2 or not any(ch.isdigit() or ch.isupper() for ch in value):
        return False                                # changeme, 12345678, db-credentials, username:
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
    ("secretkeybase", "secret"),
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
_COMPONENT_WORDS = re.compile(r"(?:^|[_.\-]|(?<=[a-z0-9]))"
                              r"(pass|Pass|PASS|pwd|Pwd|PWD|pw|Pw|PW|auth|Auth|AUTH)$")
_COMPONENT_KIND = {"pass": "password", "pwd": "password", "pw": "password", "auth": "token"}
_AWS_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9/+]{40}$")


@functools.lru_cache(maxsize=4096)
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
#
# Speed: Python's `re` scans fast only for a pattern that begins with a literal, so every
# pattern here begins with one, and a word boundary is a lookbehind placed *after* that literal
# (`sk-ant-(?<![\w-]sk-ant-)` rather than `(?<![\w-])sk-ant-`). Case-insensitive anchors
# (`bearer`, `mysql`, secret words) are searched in an ASCII-lowercased copy of the text with
# the same indices; values are always read from the original text.

Span = tuple[int, int, str]     # (start, end, kind) of a piece to replace


@dataclass(frozen=True)
class Rule:
    name: str
    priority: int                                   # lower wins an overlap
    find: Callable[[str, str], Iterator[Span]]      # (text, lowercased text) -> spans


def _pattern(name: str, priority: int, kind: str, pattern: str, *, lower: bool = False,
             group: str | int = 0, check: Callable[[re.Match[str], str], bool] | None = None) -> Rule:
    """A regex whose `group` is replaced; `lower` runs it on the lowercased text."""
    regex = re.compile(pattern)

    def find(text: str, low: str) -> Iterator[Span]:
        for m in regex.finditer(low if lower else text):
            if check is None or check(m, text):
                yield m.start(group), m.end(group), kind
    return Rule(name, priority, find)


def _value_check(kind: str) -> Callable[[re.Match[str], str], bool]:
    def check(m: re.Match[str], text: str) -> bool:
        start, end = m.span("v")
        quoted = start > 0 and text[start - 1] in "\"'`"
        return looks_like_credential(text[start:end], kind, quoted=quoted)
    return check


def _mixed_body(m: re.Match[str], text: str) -> bool:
    return _mixed(m.group("body"))


def _jwt_header_ok(m: re.Match[str], text: str) -> bool:
    header = "eyJ" + m.group("h")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return isinstance(decoded, dict) and ("alg" in decoded or "typ" in decoded)


_GENERIC_URL_PASSWORDS = frozenset({"password", "pass", "passwd", "pwd", "secret", "pw"})


def _url_password_ok(m: re.Match[str], text: str) -> bool:
    pw = m.group("v")
    if "[REDACTED" in pw or _REFERENCE.match(pw) or pw.lower() in _GENERIC_URL_PASSWORDS:
        return False                   # a reference, or docs' `postgres://user:password@host`
    return not re.fullmatch(r"\*+|x+|X+|\.+|…+|_+|-+", pw)


# ---- private keys -------------------------------------------------------------------------
# From BEGIN to the matching END, whatever is between (plain lines, "\n"-escaped JSON, "+"-prefixed
# diff lines). The END is looked up with str.find, so many BEGINs without an END stay linear.
_PEM_BEGIN = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]{0,40}?)PRIVATE KEY(?P<blk> BLOCK)?-----")
_PEM_MAX = 20_000
# No END line (pasted half, or cut by Slack): the header and the base64-looking lines after it.
_PEM_REST = re.compile(r"(?:(?:\r?\n|\\n)[ \t+\-]?[ \t\"']*"
                       r"(?:[A-Za-z0-9+/=]{16,}|[A-Z][\w-]*:[^\r\n\\]{0,200}|)[\"',]?[ \t]*"
                       r"(?=\r?\n|\\n|$))*")
_PEM_END = re.compile(r"-----END (?P<label>[A-Z0-9 ]{0,40}?)PRIVATE KEY(?P<blk> BLOCK)?-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/]{16}")      # key material, not a header quoted in code or docs
# In a GCP service-account JSON: "private_key": "-----BEGIN PRIVATE KEY-----\n…-----END PRIVATE KEY-----\n"
_GCP_BEFORE = re.compile(r"[\"']private_key[\"']\s*:\s*\"\Z")


def _find_private_keys(text: str, low: str) -> Iterator[Span]:
    """Whole private-key blocks; in a GCP service-account JSON, the `private_key` value."""
    ends: dict[str, list[int]] | None = None          # footer -> where it ends, ascending
    done = 0
    for m in _PEM_BEGIN.finditer(text):
        start = m.start()
        if start < done:
            continue                                   # inside a block already replaced
        if ends is None:
            ends = {}
            for e in _PEM_END.finditer(text):
                ends.setdefault(e.group(), []).append(e.end())
        footer = f"-----END {m.group('label')}PRIVATE KEY{m.group('blk') or ''}-----"
        candidates = ends.get(footer, [])
        i = bisect.bisect_left(candidates, m.end() + len(footer))
        if i < len(candidates) and candidates[i] - m.end() <= _PEM_MAX:
            end = candidates[i]
        else:
            end = _PEM_REST.match(text, m.end()).end()  # type: ignore[union-attr]  # always matches
            while end > m.end() and (text[end - 1] in " \t\r\n" or text.endswith("\\n", 0, end)):
                end -= 2 if text.endswith("\\n", 0, end) else 1   # keep the blank lines after it
        if not _PEM_BODY.search(text, m.end(), end):
            continue
        kind = "private-key"
        if _GCP_BEFORE.search(text, max(0, start - 40), start):
            kind = "gcp-service-account-key"
            if text.startswith("\\n", end):           # the value's trailing "\n"
                end += 2
        done = end
        yield start, end, kind


_GCP_KEY_ID = (r"private_key_id(?<![\w-]private_key_id)[\"']?\s*[:=]\s*[\"']?"
               r"(?P<v>[0-9a-f]{40})(?![0-9a-zA-Z])")

# ---- tokens with a recognisable shape -------------------------------------------------------
_AWS_ACCESS_KEY = r"A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])"
_SLACK_TOKEN = (r"x(?<![\w-]x)(?:ox(?:[abposre]|e\.xox[bp])-\d[A-Za-z0-9-]{20,}"
                r"|app-\d-[A-Za-z0-9-]{20,})(?![\w-])")
_SLACK_WEBHOOK = (r"hooks\.slack\.com/(?:services|workflows|triggers)/"
                  r"(?P<v>T[A-Z0-9]{6,}/[A-Za-z0-9_/-]{10,})")
_GITHUB_TOKEN = (r"g(?<![\w-]g)(?:h[pousr]_[A-Za-z0-9]{36,251}|ithub_pat_[A-Za-z0-9_]{30,251})"
                 r"(?![\w-])")
_ANTHROPIC_KEY = r"sk-ant-(?<![\w-]sk-ant-)(?P<body>[A-Za-z0-9_-]{20,})(?![\w-])"
_OPENAI_KEY = (r"sk-(?<![\w-]sk-)(?!ant-)(?:(?:proj|svcacct|admin|None)-)?"
               r"(?P<body>[A-Za-z0-9_-]{32,})(?![\w-])")
_JWT = r"eyJ(?<![\w-]eyJ)(?P<h>[A-Za-z0-9_-]{5,})\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*(?![\w-])"


def _prefixed(prefix: str, body: str) -> str:
    """`prefix` + `body` as a whole token, starting with the literal (see Speed above)."""
    p = re.escape(prefix)
    return rf"{p}(?<![\w-]{p}){body}(?![\w-])"


_VENDOR_API_KEYS = ("AIza", r"[0-9A-Za-z_-]{35}"), ("sk_live_", r"[A-Za-z0-9]{20,}"), \
    ("rk_live_", r"[A-Za-z0-9]{20,}"), ("SG.", r"[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64}")
_VENDOR_TOKENS = ("glpat-", r"[A-Za-z0-9_-]{20,}"), ("npm_", r"[A-Za-z0-9]{36}"), \
    ("dckr_pat_", r"[A-Za-z0-9_-]{20,}"), ("pypi-AgEIcHlwaS5vcmc", r"[A-Za-z0-9_-]{40,}"), \
    ("hf_", r"[A-Za-z0-9]{30,}")

# ---- credentials in URLs ----------------------------------------------------------------------
# The password runs to the authority's last `@`, so an unencoded `@` in it is not left behind.
_URL_PASSWORD = (r"://(?<=[A-Za-z0-9]://)[^\s:/?#@'\"`<>\[\]|]{0,256}:"
                 r"(?P<v>[^\s/?#'\"`<>|]{1,256})@(?=[\w\[.-])")

# ---- keyword-anchored rules, run on the lowercased text -----------------------------------------
_AWS_SECRET_AFTER = r"[ _-]?key[\"']?[ \t]*(?:[:=]|is\b)?[ \t]*[\"']?(?P<v>[a-z0-9/+]{40})(?![a-z0-9/+=])"
_AWS_SECRET_PROSE = r"aws[ _-]?secret(?:[ _-]?access)?" + _AWS_SECRET_AFTER  # aws_secret_access_key X
_SECRET_ACCESS_KEY_PROSE = r"secret[ _-]?access" + _AWS_SECRET_AFTER          # Secret access key: X
_AUTH_HEADER = (r"authorization(?<![\w-]authorization)[\"']?[ \t]*[:=][ \t]*[\"']?"
                r"(?:bearer|basic|token|bot|digest)[ \t]+(?P<v>[a-z0-9._~+/=-]{8,})")
_BEARER = r"bearer(?<![\w-]bearer)[ \t]+(?P<v>[a-z0-9._~+/=-]{8,})"
_MYSQL_P = re.compile(r"-p(?<=[ \t]-p)(?P<v>[^\s'\"`]{4,256}+)")
_MYSQL_BEFORE = re.compile(r"m(?<![\w-]m)(?:ysql|ysqldump|ysqladmin|ariadb)(?![\w-])")
_CURL_USER = r"-(?<=[ \t]-)(?:u|-user)[ \t]+[\"']?[^\s:'\"`]{1,256}:(?P<v>[^\s'\"`]{1,256})"
_NETRC = r"login(?<![\w-]login)\s{1,20}\S{1,256}\s{1,20}password\s{1,20}(?P<v>[^\s'\"`]{1,256})"
_BASIC_AUTH = (r"auth(?<![\w-]auth)[ \t]*=[ \t]*\([ \t]*[\"'][^\"'\n]{0,256}[\"'][ \t]*,[ \t]*[\"']"
               r"(?P<v>[^\"'\n]{1,256})[\"']")
_BASIC_AUTH_CALL = (r"basicauth\([ \t]*[\"'][^\"'\n]{0,256}[\"'][ \t]*,[ \t]*[\"']"
                    r"(?P<v>[^\"'\n]{1,256})[\"']")
_SSHPASS = r"sshpass(?<![\w-]sshpass)[ \t]+-p[ \t]*[\"']?(?P<v>[^\s'\"`]{1,256})"
_SQL_PASSWORD = r"password(?<![\w-]password)[ \t]+'(?P<v>[^'\n]{1,256})'"             # WITH PASSWORD '…'
_SQL_IDENTIFIED_BY = r"identified(?<![\w-]identified)[ \t]+by[ \t]+'(?P<v>[^'\n]{1,256})'"  # IDENTIFIED BY '…' 

# ---- assignments: NAME <sep> VALUE ------------------------------------------------------------
# Found from each secret word that ends a name (`DB_PASSWORD`, `apiKey`, `--token`): the name
# runs back over [\w.-], the rest is matched forward from the word's end.
_SECRET_WORDS = ("password", "passwd", "passphrase", "pass", "pwd", "pw", "secret", "token",
                 "key", "auth", "key_base")
_WORD_AT_NAME_END = re.compile("|".join(w + r"(?![\w.\-])" for w in _SECRET_WORDS))
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
# Possessive (`{…}+`): a value never gives characters back, since its closing quote or
# terminator is outside its class; without that, `password=password=…` backtracks badly.
_VALUE = (r"(?:\"(?P<v1>[^\"\n]{0,512}+)\"|'(?P<v2>[^'\n]{0,512}+)'|`(?P<v3>[^`\n]{0,512}+)`"
          r"|(?P<v4>[^\s'\"`,;()\[\]{}<>&|]{1,512}+)(?=[\s,;)\]}&|>'\"`]|$))")
_AFTER_NAME = re.compile(
    r"(?P<kq>[\"'`]?)\]?"
    r"(?:[ \t]*:[ \t]*(?:str|string|String|SecretStr|Optional\[str\]|str[ \t]*\|[ \t]*None)"
    r"|[ \t]+(?:string|String|str))?"
    r"(?>(?P<ws>[ \t]*)(?P<sep>:=|=>|===?|!==?|=|:|,|is(?=[ \t]))?(?P<ws2>[ \t]*)"
    r"(?:@|(?P<pfx>[bBrRuUfF]{1,2})(?=[\"']))?)" + _VALUE)
# name: DB_PASSWORD / value: "…" (Kubernetes env, ECS task definitions)
_NAME_BEFORE = re.compile(r"name[\"']?[ \t]*[:=][ \t]*[\"']?\Z")
_AFTER_ENV_NAME = re.compile(r"[\"']?[ \t]*,?[ \t]*(?:\r?\n[ \t+\-]*)?[\"']?value[\"']?[ \t]*[:=][ \t]*"
                             + _VALUE)
_AFTER_XML_NAME = re.compile(r">(?P<v4>[^<\s]{6,512})</")
_UPPER_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")
_DOCKER_ENV = re.compile(r"(?:^|\n)[ \t+\-]?ENV[ \t]+\Z")
_COMPARISONS = frozenset({"==", "===", "!=", "!=="})


def _value_of(m: re.Match[str]) -> tuple[str, int, int, bool]:
    """(value, start, end, quoted) of a match of _VALUE: exactly one of v1..v4 is set."""
    for g, quoted in (("v1", True), ("v2", True), ("v3", True), ("v4", False)):
        if m.group(g) is not None:
            return m.group(g), m.start(g), m.end(g), quoted
    raise AssertionError("_VALUE matched without a value")


_ESCAPED_BREAK = re.compile(r"\\[ntr]")
_RUN_END = re.compile(r"[^\s'\"`<>()\[\]{}]*+")
_NEXT_FIELD = re.compile(r"[=:]")


def _bare_value_end(text: str, start: int, stop: int) -> int:
    """Where an unquoted value ends: `abc,def` and `Tr0ub&3x` are whole values, but in
    `pw=abc;Database=x`, `pw=abc&user=x` or `f(pw=abc)` what follows is not part of it,
    nor, inside a string literal, what follows an escaped line break (`A=x\\nB=y`)."""
    escaped = _ESCAPED_BREAK.search(text, start, stop)
    if escaped:
        return escaped.start()
    if stop >= len(text) or text[stop] not in "&,;|":
        return stop
    run_end = _RUN_END.match(text, stop).end()  # type: ignore[union-attr]  # always matches
    rest = text[stop:run_end]
    if not _NEXT_FIELD.search(rest) and any(ch.isalnum() for ch in rest):
        return run_end
    return stop


def _assignment_span(text: str, name: str, end: int) -> Span | None:
    m = _AFTER_NAME.match(text, end)
    if m is None:
        return None
    value, start, stop, quoted = _value_of(m)
    if not quoted:
        stop = _bare_value_end(text, start, stop)
        value = text[start:stop]
    sep = m.group("sep")
    if sep is None:                    # whitespace only: a flag (--password VALUE), Dockerfile ENV
        begin = end - len(name)
        if not m.group("ws") or not (name.startswith("-") or _DOCKER_ENV.search(text, max(0, begin - 12), begin)):
            return None
    elif sep == "is":                  # prose: "the password is Xk9…"
        if not m.group("ws"):
            return None
    elif sep == ",":                   # getenv("API_TOKEN", "default"), define('DB_PASSWORD', '…')
        kq = m.group("kq")
        if not (kq in ("'", '"') and quoted and text[start - 1] in "'\"" and _UPPER_NAME.match(name)):
            return None
    elif sep in _COMPARISONS:          # token == "literal" yes, token == other_token no
        if not quoted:
            return None
    elif sep == ":" and not quoted and not m.group("ws2"):
        return None                    # key:value without a space: not YAML (a URL, a log line)
    if m.group("pfx") and "r" in m.group("pfx").lower():
        return None                    # r"…": a regex or a Windows path
    kind = kind_for_name(name)
    if kind is None or not looks_like_credential(value, kind, quoted=quoted):
        return None
    return start, stop, _refine_kind(kind, name, value)


def _find_named(text: str, low: str) -> Iterator[Span]:
    """Assignments, env name/value pairs and XML elements, from secret words ending a name."""
    for hit in _WORD_AT_NAME_END.finditer(low):
        end = begin = hit.end()
        while begin and text[begin - 1] in _NAME_CHARS and end - begin < 128:
            begin -= 1
        name = text[begin:end]
        if kind_for_name(name) is None:
            continue
        span = _assignment_span(text, name, end)
        if span is not None:
            yield span
            continue
        if begin and text[begin - 1] == "<":                                   # <password>…</password>
            m = _AFTER_XML_NAME.match(text, end)
            if m and text.startswith(f"</{name}>", m.end("v4")):
                kind = kind_for_name(name)
                if kind and looks_like_credential(m.group("v4"), kind, quoted=True):
                    yield m.start("v4"), m.end("v4"), kind
            continue
        if _NAME_BEFORE.search(low, max(0, begin - 40), begin):              # name: X / value: Y
            m = _AFTER_ENV_NAME.match(text, end)
            if m:
                value, start, stop, quoted = _value_of(m)
                if not quoted:
                    stop = _bare_value_end(text, start, stop)
                    value = text[start:stop]
                kind = kind_for_name(name)
                if kind and looks_like_credential(value, kind, quoted=quoted):
                    yield start, stop, _refine_kind(kind, name, value)


def _find_mysql_passwords(text: str, low: str) -> Iterator[Span]:
    """`mysql -u root -pSECRET db`: -p with the password attached, on a mysql command line."""
    for m in _MYSQL_P.finditer(text):
        window = max(0, m.start() - 300)
        line_start = max(text.rfind("\n", window, m.start()) + 1, window)
        if looks_like_credential(m.group("v"), "password", quoted=False) and \
                _MYSQL_BEFORE.search(low, line_start, m.start()):
            yield m.start("v"), m.end("v"), "password"


_RULES: tuple[Rule, ...] = (
    # Most specific first: an overlap goes to the lowest priority number.
    _pattern("gcp private_key_id", 0, "gcp-service-account-key-id", _GCP_KEY_ID, group="v"),
    Rule("private key", 1, _find_private_keys),
    _pattern("aws access key", 10, "aws-access-key", _AWS_ACCESS_KEY),
    _pattern("slack webhook", 10, "slack-webhook", _SLACK_WEBHOOK, group="v"),
    _pattern("slack token", 10, "slack-token", _SLACK_TOKEN),
    _pattern("github token", 10, "github-token", _GITHUB_TOKEN),
    _pattern("anthropic key", 10, "anthropic-key", _ANTHROPIC_KEY, check=_mixed_body),
    _pattern("openai key", 11, "openai-key", _OPENAI_KEY, check=_mixed_body),
    *(_pattern(f"{prefix} api key", 10, "api-key", _prefixed(prefix, body))
      for prefix, body in _VENDOR_API_KEYS),
    *(_pattern(f"{prefix} token", 10, "token", _prefixed(prefix, body))
      for prefix, body in _VENDOR_TOKENS),
    _pattern("jwt", 12, "jwt", _JWT, check=_jwt_header_ok),
    _pattern("url password", 20, "url-password", _URL_PASSWORD, group="v", check=_url_password_ok),
    *(_pattern(name, 25, "aws-secret-key", pattern, lower=True, group="v", check=_value_check("aws-secret-key"))
      for name, pattern in (("aws secret key, prose", _AWS_SECRET_PROSE),
                            ("secret access key, prose", _SECRET_ACCESS_KEY_PROSE))),
    _pattern("authorization header", 30, "token", _AUTH_HEADER, lower=True, group="v",
             check=_value_check("token")),
    _pattern("bearer", 30, "token", _BEARER, lower=True, group="v", check=_value_check("token")),
    Rule("mysql -p", 30, _find_mysql_passwords),
    _pattern("auth=(user, password)", 30, "password", _BASIC_AUTH, lower=True, group="v",
             check=_value_check("password")),
    _pattern("BasicAuth(user, password)", 30, "password", _BASIC_AUTH_CALL, lower=True, group="v",
             check=_value_check("password")),
    _pattern("sshpass -p", 30, "password", _SSHPASS, lower=True, group="v", check=_value_check("password")),
    _pattern("curl -u", 30, "password", _CURL_USER, group="v", check=_value_check("password")),
    _pattern(".netrc", 30, "password", _NETRC, lower=True, group="v", check=_value_check("password")),
    _pattern("sql password", 30, "password", _SQL_PASSWORD, lower=True, group="v",
             check=_value_check("password")),
    _pattern("sql identified by", 30, "password", _SQL_IDENTIFIED_BY, lower=True, group="v",
             check=_value_check("password")),
    Rule("assignment", 40, _find_named),
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


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _secret_spans(text: str) -> list[tuple[int, int, str]]:
    """The (start, end, kind) pieces of `text` that :func:`redact` replaces, in order."""
    low = text.lower()
    if len(low) != len(text):          # a few non-ASCII letters lowercase to two characters
        low = text.translate(_ASCII_LOWER)
    return _select([(rule.priority, start, end, kind)
                    for rule in _RULES for start, end, kind in rule.find(text, low)])


def redact(text: str) -> Redaction:
    """Replace every secret in `text` by ``[REDACTED <kind>]`` and count them by kind."""
    spans = _secret_spans(text)
    if not spans:
        return Redaction(text, MappingProxyType({}))
    pieces: list[str] = []
    counts: Counter[str] = Counter()
    at = 0
    for start, end, kind in spans:
        pieces.append(text[at:start])
        pieces.append(PLACEHOLDER.format(kind=kind))
        counts[kind] += 1
        at = end
    pieces.append(text[at:])
    ordered = {kind: counts[kind] for kind in KINDS if kind in counts}
    return Redaction("".join(pieces), MappingProxyType(ordered))
