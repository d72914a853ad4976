"""bot/redact.py: secrets are replaced by labelled placeholders, ordinary code is left alone.

Fake credentials are assembled from pieces at run time so that this file itself does not
look like it leaks anything; every value is random or made up.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.redact import KINDS, Redaction, redact

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "redaction_corpus"
EXPECTED: dict[str, list[dict]] = json.loads((CORPUS / "expected.json").read_text())
SECRET_FILES = sorted(p.relative_to(CORPUS).as_posix() for p in (CORPUS / "secrets").rglob("*") if p.is_file())
CLEAN_FILES = sorted(p.relative_to(CORPUS).as_posix() for p in (CORPUS / "clean").rglob("*") if p.is_file())
FAMILIES = {
    "cloud",
    "vcs",
    "payment",
    "chat-webhooks",
    "observability",
    "databases",
    "private-keys",
    "generic-assignment",
    "multiline-values",
    "standalone-high-entropy",
}
ALL_FILES = SECRET_FILES + CLEAN_FILES


def read(rel: str) -> str:
    return (CORPUS / rel).read_text()


def fragments(value: str, pieces: list[str] | None = None) -> list[str]:
    """The value, and each long line of it (a PEM block in a diff is not contiguous), and the
    pieces of a value written in several (`"abc" + "def"`)."""
    return [value] + [line for line in value.replace("\\n", "\n").split("\n") if len(line) >= 16] + (pieces or [])


# ---- fakes, built at run time ---------------------------------------------------------------

AKIA = "AKIA" + "ZQ4RT7WX2KJ5N3PB"
AWS_SECRET = "Zx81kLmq02Pq7RtY6uVw" + "/Bn3Hj5Kd8Fs2Ag4Lp6+"  # 40 characters
SLACK_BOT = "xoxb-" + "482910375521-5520193847766-" + "Qm3RzT8vKp1YwN6xLd4sHj2F"
SLACK_APP = "xapp-" + "1-A07QZ3K9LMP-7412390581723-" + "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c" * 2
WEBHOOK_PATH = "T04QZ8MNB/" + "B06RT2KXW9P/" + "p7Kq2Lm9Xz4Rt6Wv1Ys3Nb8D"
GHP = "ghp_" + "R8m2Kq7Xv4Lp9Tz1Wc6Nb3Hd5Fg0Js2Ay8Ue"
GITHUB_PAT = "github_pat_" + "11AQZ7LMB0kR3xW9pT2vQ8_" + "mN4bH6jK1sD5gF9aZ2xC7vB0nL3qW8eR5tY1uI4oP6lK9jH2gF5dS8aZ3xC"
ANTHROPIC = (
    "sk-ant-"
    + "api03-"
    + "Xk9mP2qLr8vT4wYz7bN3cF6hJ1sD5gA0eR2tY8uI4oP7lK3jH6gF9dS2aZ5xC8vB1nM4qW7eR0tY3uI6oP9aS2dF5gH8jK1l-AA"
)
OPENAI = "sk-" + "proj-" + "Hq3Lm8Zx2Vb7Nc4Kd9Rf1Tg6Yh5Uj0Ik" + "T3BlbkFJ" + "Pl2Ok7Ij4Uh9Yg1Tf6Rd3Es8Wa5Qz0Xc"
OPENAI_LEGACY = "sk-" + "Aq7Wd2Rf9Tg4Yh1Uj6Ik" + "T3BlbkFJ" + "Zx3Cv8Bn5Mq2Lk9Jh4Gf"


def jwt(alg: str = "HS256") -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return (
        f"{part({'alg': alg, 'typ': 'JWT'})}.{part({'sub': '4211', 'exp': 1719000000})}."
        + "Kd8Fs2Ag4Lp6Bn3Hj5Zx81kLmq02Pq7RtY6uVwQe9Ws"
    )


def pem(label: str, lines: int = 6, width: int = 64) -> str:
    body = base64.b64encode(hashlib.sha512(label.encode()).digest() * 12).decode()
    rows = [body[i * width : (i + 1) * width] for i in range(lines)]
    return f"-----BEGIN {label}-----\n" + "\n".join(rows) + f"\n-----END {label}-----"


# ---- the corpus ----------------------------------------------------------------------------


def test_the_corpus_is_what_the_brief_asks_for():
    assert len(SECRET_FILES) >= 10 and len(CLEAN_FILES) >= 10
    assert set(EXPECTED) == set(SECRET_FILES), "every secret file lists its planted values"
    planted = {e["kind"] for entries in EXPECTED.values() for e in entries}
    assert set(KINDS) - planted == set(), f"kinds never planted: {set(KINDS) - planted}"
    families = Counter(e["family"] for entries in EXPECTED.values() for e in entries)
    assert set(families) == FAMILIES, f"families: {set(families) ^ FAMILIES}"
    assert min(families.values()) >= 4, families
    for rel in SECRET_FILES:  # a family's own folder holds only that family's values
        folder = rel.split("/")[1] if rel.count("/") == 2 else None
        assert folder is None or folder in FAMILIES, rel


@pytest.mark.parametrize("rel", SECRET_FILES)
def test_every_planted_secret_is_gone_and_counted_under_its_kind(rel):
    result = redact(read(rel))
    for entry in EXPECTED[rel]:
        for piece in fragments(entry["value"], entry.get("fragments")):
            assert piece not in result.text, f"{entry['kind']} left in {rel}: {piece[:40]}…"
    want = Counter()
    for entry in EXPECTED[rel]:
        want[entry["kind"]] += entry.get("count", 1)
    # Equal, not just "at least": a redaction that was not planted is a false positive.
    assert dict(result.counts) == dict(want)
    for kind in want:
        assert f"[REDACTED {kind}]" in result.text


@pytest.mark.parametrize("rel", CLEAN_FILES)
def test_ordinary_code_comes_through_byte_identical(rel):
    text = read(rel)
    result = redact(text)
    assert result.text == text
    assert dict(result.counts) == {} and not result.any and result.summary() == ""


@pytest.mark.parametrize("rel", ALL_FILES)
def test_redacting_twice_changes_nothing_the_second_time(rel):
    once = redact(read(rel))
    twice = redact(once.text)
    assert twice.text == once.text
    assert dict(twice.counts) == {}


def test_the_same_input_gives_the_same_output_even_in_another_process():
    blob = "\n".join(read(rel) for rel in ALL_FILES)
    here = redact(blob)
    assert redact(blob) == here
    script = (
        "import sys, hashlib; from bot.redact import redact; "
        "r = redact(sys.stdin.read()); "
        "print(hashlib.sha256(r.text.encode()).hexdigest(), sorted(r.counts.items()), r.summary())"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script], input=blob, text=True, capture_output=True, cwd=ROOT, env=env, check=True
        )
        outputs.add(done.stdout)
    expected = f"{hashlib.sha256(here.text.encode()).hexdigest()} {sorted(here.counts.items())} {here.summary()}\n"
    assert outputs == {expected}


# ---- the API -------------------------------------------------------------------------------


def test_the_result_is_frozen_and_its_counts_read_only():
    result = redact(f"AWS_ACCESS_KEY_ID={AKIA}")
    assert result.text == "AWS_ACCESS_KEY_ID=[REDACTED aws-access-key]"
    assert result.any
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.text = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.counts["aws-access-key"] = 0  # type: ignore[index]
    assert result == redact(f"AWS_ACCESS_KEY_ID={AKIA}")


def test_nothing_to_redact():
    result = redact("def add(a, b):\n    return a + b\n")
    assert result.text == "def add(a, b):\n    return a + b\n"
    assert not result.any and dict(result.counts) == {} and result.summary() == ""
    assert redact("").text == ""


def test_summary_names_kinds_and_numbers_in_singular_and_plural():
    text = f"{AKIA} and {AKIA[:-1]}Q\npostgres://app:Vq7Lm2Xz9Rt4@db.internal/app"
    assert redact(text).summary() == "Redacted before sending: 2 AWS access keys, 1 password in a URL."
    assert (
        redact("redis://:Vq7Lm2Xz9Rt4@a/0 redis://:Wq7Lm2Xz9Rt5@b/0").summary()
        == "Redacted before sending: 2 passwords in URLs."
    )
    assert redact(f"token: {jwt()}").summary() == "Redacted before sending: 1 JSON Web Token."
    assert (
        redact(f"{SLACK_BOT}\n{SLACK_APP}\nDB_PASSWORD=Vq7Lm2Xz9Rt4").summary()
        == "Redacted before sending: 2 Slack tokens, 1 password."
    )
    summary = redact(f"{ANTHROPIC} {GHP}").summary()
    assert summary == "Redacted before sending: 1 Anthropic API key, 1 GitHub token."
    assert ANTHROPIC not in summary and GHP not in summary


def test_a_summary_of_counts_added_up_elsewhere_lists_kinds_in_the_usual_order():
    from types import MappingProxyType

    added = Redaction("", MappingProxyType({"password": 1, "token": 0, "aws-access-key": 2}))
    assert added.any
    assert added.summary() == "Redacted before sending: 2 AWS access keys, 1 password."
    nothing = Redaction("", MappingProxyType({"token": 0}))
    assert not nothing.any and nothing.summary() == ""


def test_every_kind_has_a_singular_and_a_plural():
    for kind, (one, many) in KINDS.items():
        assert one and many and one != many, kind


# ---- what must be caught -------------------------------------------------------------------

CAUGHT = [
    # (text with {s} where the secret goes, secret, kind)
    ("AWS_ACCESS_KEY_ID={s}", AKIA, "aws-access-key"),
    ("creds = {{'AccessKeyId': '{s}'}}", "ASIA" + AKIA[4:], "aws-access-key"),
    ("aws_secret_access_key = {s}", AWS_SECRET, "aws-secret-key"),
    ('"SecretAccessKey": "{s}",', AWS_SECRET, "aws-secret-key"),
    ('  secret_key = "{s}"', AWS_SECRET, "aws-secret-key"),
    ("aws configure set aws_secret_access_key {s}", AWS_SECRET, "aws-secret-key"),
    ("Access key ID: AKIA… / Secret access key: {s}", AWS_SECRET, "aws-secret-key"),
    ("SLACK_BOT_TOKEN={s}", SLACK_BOT, "slack-token"),
    ("my token is {s}, why 401?", SLACK_APP, "slack-token"),
    ("xoxp: {s}", "xoxp-" + "4829103755-4829103756-5520193847766-" + "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c", "slack-token"),
    ("alerts: https://hooks.slack.com/services/{s}", WEBHOOK_PATH, "slack-webhook"),
    ("export GITHUB_TOKEN={s}", GHP, "github-token"),
    ("git clone https://x-access-token:{s}@github.com/acme/app.git", "ghs_" + GHP[4:], "github-token"),
    ("GH={s}", GITHUB_PAT, "github-token"),
    ("ANTHROPIC_API_KEY={s}", ANTHROPIC, "anthropic-key"),
    ("client = Anthropic(api_key='{s}')", ANTHROPIC, "anthropic-key"),
    ('OPENAI_API_KEY="{s}"', OPENAI, "openai-key"),
    ("openai.api_key = '{s}'", OPENAI_LEGACY, "openai-key"),
    ("curl -H 'Authorization: Bearer {s}' https://api.internal", jwt("RS256"), "jwt"),
    ("session={s}; Path=/", jwt(), "jwt"),
    ("DATABASE_URL=postgres://app:{s}@db.internal:5432/app", "Vq7Lm2Xz9Rt4", "url-password"),
    ("MONGO=mongodb+srv://svc:{s}@cluster0.ab1cd.mongodb.net/prod?retryWrites=true", "Hq8-Kd2_Pl5.Zx", "url-password"),
    ("REDIS_URL=redis://:{s}@cache:6379/0", "Vq7Lm2Xz9Rt4", "url-password"),
    ("broker = 'amqp://orders:{s}@rabbit:5672//'", "Gh4Jk7Lz2Qw9", "url-password"),
    ("PASSWORD={s}", "Xk9#mP2qLr8v", "password"),
    ("  password: {s}", "Tr0ub4dor&3x", "password"),
    ('{{"password": "{s}", "user": "svc"}}', "Tr0ub4dor&3x", "password"),
    ('password = "{s}"', "Tr0ub4dor&3x", "password"),
    ('dbPass := "{s}"', "Tr0ub4dor&3x", "password"),
    ("DB_PASS={s}", "Tr0ub4dor&3x", "password"),
    ('password: str = "{s}"', "Tr0ub4dor&3x", "password"),
    ('var password string = "{s}"', "Tr0ub4dor&3x", "password"),
    ("psql --password {s} -h db", "Tr0ub4dor&3x", "password"),
    ("app --db-password={s} --port 80", "Tr0ub4dor&3x", "password"),
    ("mysql -u root -p{s} shop", "Tr0ub4dor&3x", "password"),
    ("curl -u admin:{s} https://ci.internal", "Tr0ub4dor&3x", "password"),
    ("jdbc:mysql://db/app?user=app&password={s}&ssl=true", "Tr0ub4dor3x", "password"),
    ("Server=db;User Id=sa;Password={s};", "Tr0ub4dor3x!", "password"),
    ("machine api.example.com login me password {s}", "Tr0ub4dor3x", "password"),
    ("CREATE ROLE app LOGIN PASSWORD '{s}';", "Tr0ub4dor3x", "password"),
    ("ALTER USER 'app'@'%' IDENTIFIED BY '{s}';", "Tr0ub4dor3x", "password"),
    ("<password>{s}</password>", "Tr0ub4dor3x", "password"),
    ("if password == '{s}':", "Tr0ub4dor3x", "password"),
    ("define('DB_PASSWORD', '{s}');", "Tr0ub4dor3x", "password"),
    ('os.getenv("API_TOKEN", "{s}")', "Hq3Lm8Zx2Vb7Nc4K", "token"),
    ("SECRET_KEY = '{s}'", "django-insecure-k3(j4h5!x8z2@q7w", "secret"),
    ('secret := "{s}"', "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c", "secret"),
    ("config.secret_key_base = '{s}'", "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c", "secret"),
    ("SLACK_SIGNING_SECRET={s}", "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c", "secret"),
    ('client_secret: "{s}"', "Hq3Lm8Zx2Vb7Nc4Kd9Rf1Tg6", "secret"),
    ('token = "{s}"', "Hq3Lm8Zx2Vb7Nc4Kd9Rf1Tg6", "token"),
    ("GITLAB={s}", "glpat-" + "Hq3Lm8Zx2Vb7Nc4Kd9Rf", "gitlab-token"),
    ('"auth": "{s}"', base64.b64encode(b"deploy:Hq3Lm8Zx2Vb7").decode(), "token"),
    ("Authorization: Basic {s}", base64.b64encode(b"deploy:Hq3Lm8Zx2Vb7").decode(), "token"),
    ('"api_key": "{s}"', "a8f5f167f44f4964e6c998dee827110c", "api-key"),
    ("headers = {{'X-Api-Key': '{s}'}}", "a8f5f167f44f4964e6c998dee827110c", "api-key"),
    ("const apiKey = `{s}`;", "Hq3Lm8Zx2Vb7Nc4Kd9Rf1Tg6", "api-key"),
    ("maps_key={s}", "AIza" + "SyHq3Lm8Zx2Vb7Nc4Kd9Rf1Tg6Yh5Uj0Ik7", "api-key"),
    ("ENV API_TOKEN {s}", "Hq3Lm8Zx2Vb7Nc4Kd9Rf1Tg6", "token"),
    ('SIGNING_SECRET = b"{s}"', "Hq3Lm8Zx2Vb7Nc4Kd9Rf1Tg6", "secret"),
    ('requests.get(url, auth=("admin", "{s}"))', "Tr0ub4dor3x", "password"),
    ('HTTPBasicAuth("admin", "{s}")', "Tr0ub4dor3x", "password"),
    ("sshpass -p '{s}' ssh deploy@bastion", "Tr0ub4dor3x", "password"),
    ("the staging db password is {s} btw", "Tr0ub4dor3x", "password"),
    (
        "AccountName=acme;AccountKey={s};EndpointSuffix=core.windows.net",
        "Zx81kLmq02Pq7RtY6uVwBn3Hj5Kd8Fs2Ag4Lp6QeWs==",
        "secret",
    ),
    ("  password: {s}", "Tr0ub4dor&3x,9", "password"),
    ('<a href="/reset?token={s}">reset</a>', "Hq3Lm8Zx2Vb7Nc4Kd9Rf1Tg6", "token"),
    ("postgres://app:{s}@db/app", "p@ss-Vq7Lm2Xz9", "url-password"),
    ('- name: DB_PASSWORD\n  value: "{s}"', "Tr0ub4dor3x", "password"),
    ('{{"name": "API_TOKEN", "value": "{s}"}}', "Hq3Lm8Zx2Vb7Nc4Kd9Rf1Tg6", "token"),
]


@pytest.mark.parametrize(("template", "secret", "kind"), CAUGHT, ids=[c[0][:40] for c in CAUGHT])
def test_caught(template, secret, kind):
    text = template.format(s=secret)
    result = redact(text)
    assert secret not in result.text
    assert result.text == template.format(s=f"[REDACTED {kind}]")
    assert dict(result.counts) == {kind: 1}


def test_an_escaped_line_break_ends_a_value_in_a_string_literal():
    text = 'Path(".env").write_text("APP=1\\nAPI_TOKEN=Hq3Lm8Zx2Vb7Nc4Kd9Rf1Tg6\\nDEBUG=1\\n")'
    assert redact(text).text == 'Path(".env").write_text("APP=1\\nAPI_TOKEN=[REDACTED token]\\nDEBUG=1\\n")'


def test_inside_diff_lines_secrets_are_still_caught():
    diff = (
        "--- a/.env\n+++ b/.env\n@@ -1,3 +1,3 @@\n APP_ENV=prod\n"
        f"-SLACK_BOT_TOKEN={SLACK_BOT}\n+SLACK_BOT_TOKEN=${{SLACK_BOT_TOKEN}}\n"
        f"-DB_PASSWORD=Tr0ub4dor3x\n+DB_PASSWORD=Vq7Lm2Xz9Rt4\n"
    )
    result = redact(diff)
    assert SLACK_BOT not in result.text and "Tr0ub4dor3x" not in result.text and "Vq7Lm2Xz9Rt4" not in result.text
    assert "+SLACK_BOT_TOKEN=${SLACK_BOT_TOKEN}\n" in result.text
    assert "-DB_PASSWORD=[REDACTED password]\n+DB_PASSWORD=[REDACTED password]\n" in result.text
    assert result.text.startswith("--- a/.env\n+++ b/.env\n@@ -1,3 +1,3 @@\n APP_ENV=prod\n")


@pytest.mark.parametrize(
    "label",
    [
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "DSA PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ],
)
def test_the_whole_private_key_block_is_replaced(label):
    block = pem(label)
    for wrap in ("{}", "key = '''\n{}\n'''", "```\n{}\n```"):
        result = redact(wrap.format(block) + "\nnext line")
        assert result.text == wrap.format("[REDACTED private-key]") + "\nnext line"
    escaped = json.dumps({"key": block})
    assert redact(escaped).text == '{"key": "[REDACTED private-key]"}'
    in_diff = "+" + block.replace("\n", "\n+")
    assert redact(in_diff).text == "+[REDACTED private-key]"


def test_a_private_key_cut_off_before_its_end_is_still_replaced():
    cut = "\n".join(pem("RSA PRIVATE KEY").split("\n")[:4])
    result = redact(f"here's the key:\n{cut}\n\nwhat's wrong with it?")
    assert result.text == "here's the key:\n[REDACTED private-key]\n\nwhat's wrong with it?"


def test_a_gcp_service_account_key_loses_its_private_key_and_key_id_but_not_the_rest():
    account = {
        "type": "service_account",
        "project_id": "acme-prod",
        "private_key_id": "3f9c" * 10,
        "private_key": pem("PRIVATE KEY") + "\n",
        "client_email": "svc@acme-prod.iam.gserviceaccount.com",
        "client_id": "104839201938475610293",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    result = redact(json.dumps(account, indent=2))
    redacted = json.loads(result.text)
    assert redacted["private_key"] == "[REDACTED gcp-service-account-key]"
    assert redacted["private_key_id"] == "[REDACTED gcp-service-account-key-id]"
    assert {k: v for k, v in redacted.items() if not k.startswith("private_key")} == {
        k: v for k, v in account.items() if not k.startswith("private_key")
    }


def test_public_keys_and_certificates_are_not_secrets():
    text = (
        pem("PUBLIC KEY")
        + "\n"
        + pem("CERTIFICATE")
        + "\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH3p7Yy8bVv0mXh7tq deploy@ci"
    )
    assert redact(text).text == text


def test_a_url_keeps_its_host_and_user():
    result = redact("postgres://reporting:Vq7Lm2Xz9Rt4@warehouse.internal:5432/dw?sslmode=require")
    assert result.text == "postgres://reporting:[REDACTED url-password]@warehouse.internal:5432/dw?sslmode=require"


def test_placeholders_are_never_redacted_again():
    text = "\n".join(
        f"{name} = '[REDACTED {kind}]'"
        for name, kind in [("token", "token"), ("password", "password"), ("API_KEY", "api-key")]
    )
    text += (
        "\npostgres://u:[REDACTED url-password]@h/db\nmysql -p[REDACTED password]\n"
        "https://hooks.slack.com/services/[REDACTED slack-webhook]\nPASSWORD=[REDACTED password]\n"
    )
    assert redact(text).text == text


# ---- what must be left alone ---------------------------------------------------------------

KEPT = [
    'password = request.form["password"]',
    "token = get_token()",
    'secret_name = "db-credentials"',
    "password_hash = make_password(raw)",
    "if not password:\n    raise ValueError('missing')",
    '"password": "<your password here>"',
    "PASSWORD=changeme",
    "DB_PASSWORD=${DB_PASSWORD}",
    "password: {{ .Values.db.password }}",
    'token = os.environ["GITHUB_TOKEN"]',
    "api_key = settings.ANTHROPIC_API_KEY",
    "password = userPassword;",
    "token == Literal:",
    "if token != other_token:",
    "max_tokens = 4096",
    "response.usage.input_tokens",
    'cache_key = f"user:{user_id}:profile"',
    'SECRET_KEY = env("SECRET_KEY")',
    "authenticate(request, username=email, password=password)",
    "def login(username: str, password: str) -> Token:",
    '__all__ = ["Auth", "BasicAuth", "DigestAuth", "NetRCAuth"]',
    "app_token: App-level token starting with `xapp-`",
    'token_type = "Bearer"',
    'TOKEN_URL = "https://oauth2.googleapis.com/token"',
    '"@octokit/auth-token": "^4.0.0-beta.12",',
    "password_file = /run/secrets/db_password",
    "secretKeyRef:\n  name: db-credentials\n  key: password",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    'request_id = "c56a4180-65aa-42ec-a945-5fd21dec0538"',
    'PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="',
    '"integrity": "sha512-RdJUflcE3cUzKiMqQgsCu06FPu9UdIJO0beYbPhHN4k6apgJtifcoCtT9bcxOpYBtpD2kCM6Sbzg4CausW/PKQ=="',
    "https://example.com/docs?page=2#auth",
    "postgres://app@localhost:5432/app",
    "postgres://user:password@localhost:5432/app",
    "postgres://user:${DB_PASSWORD}@localhost:5432/app",
    "SELECT id, email FROM users WHERE password_hash = crypt($1, password_hash);",
    "## Passwords\n\nA **password** must have 12 characters: `password_min_length = 12`.",
    "SLACK_BOT_TOKEN=xoxb-your-bot-token",
    "ANTHROPIC_API_KEY=sk-ant-...",
    "Authorization: Bearer <token>",
    "Authorization: Bearer ${TOKEN}",
    "password = ''",
    "password = None",
    'PASSWORD = "********"',
    "api_key: REPLACE_ME",
    "-    token = request.headers.get('X-Token')\n+    token = bearer(request)",
    "try:\n    connect()\nexcept Error:\n    pass",
    "monkey = 'Gorilla123Kong'",
    "the token is expired, so ask for a new one",
    "if token is None:\n    return",
    "ENV PATH /usr/local/bin:$PATH",
    "ENV NODE_AUTH_TOKEN ${NODE_AUTH_TOKEN}",
    "DB_PASSWORD=SuperSecretPassword",
    "aws_secret_access_key xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "secret = r'([a-z0-9]{64})'",
    'token = r"[-!#$%&\'*+.^_`|~0-9a-zA-Z]+"',
    "api_key_pattern = API_KEY = '[A-Za-z0-9]{32}'",
    'if line.startswith("-----BEGIN RSA PRIVATE KEY-----"):',
    '# "private_key": "-----BEGIN PRIVATE KEY-----\\n…\\n-----END PRIVATE KEY-----\\n"',
    "flags: ``--password value``, ``mysql -pVALUE``, ``curl -u user:VALUE``",
    "names (`DB_PASSWORD`, `apiKey`, `--token`)",
    'env = clean_env(SLACK_BOT_TOKEN="xoxb-1", ANTHROPIC_API_KEY="sk-ant-1")',
    'path.write_text("SLACK_BOT_TOKEN=xoxb-from-file\\nSLACK_APP_TOKEN=not-an-app-token\\n")',
]


@pytest.mark.parametrize("text", KEPT, ids=[k[:40] for k in KEPT])
def test_kept(text):
    result = redact(text)
    assert result.text == text, f"mangled: {result.text!r}"
    assert dict(result.counts) == {}


# ---- speed ---------------------------------------------------------------------------------


def corpus_of(size: int) -> str:
    blob = "\n".join(read(rel) for rel in ALL_FILES)
    return (blob * (size // len(blob) + 1))[:size]


def best_time(text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        redact(text)
        best = min(best, time.perf_counter() - started)
    return best


def test_200_kb_of_code_takes_well_under_100_ms():
    assert best_time(corpus_of(200_000)) < 0.1


@pytest.mark.parametrize(
    "unit",
    [
        "password=",
        "-----BEGIN RSA PRIVATE KEY-----\n",
        "mysql -p",
        "name: X_TOKEN\n",
        '"password": "',
        "key=",
        "a",
        "://u:p",
        "eyJhbGciOiJIUzI1NiJ9.",
        "sk-" + "A1b2" * 10,
    ],
)
def test_pathological_input_stays_fast(unit):
    text = (unit * (200_000 // len(unit) + 1))[:200_000]
    assert best_time(text, runs=1) < 1.0


# ---- shapes the first version missed (issue: "Redaction misses common secret shapes") -------


def _fake(alphabet: str, n: int, seed: int) -> str:
    import random

    r = random.Random(seed)
    while True:
        s = "".join(r.choice(alphabet) for _ in range(n))
        if alphabet.isdigit() or len({c.isdigit() for c in s} | {c.isupper() for c in s if c.isalpha()}) >= 2:
            return s


AN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
HX = "0123456789abcdef"
B64 = AN + "+/"
OPS_TOKEN = "ops_" + "eyJ" + _fake(B64, 900, 1)  # 1Password service account
AZ_SECRET = _fake(AN, 3, 2) + "8Q~" + _fake(AN, 34, 3)

MISSED = [
    # (template with {s}, secret, kind)
    ("OP_SERVICE_ACCOUNT_TOKEN={s}", OPS_TOKEN, "token"),
    ('SESSION_TOKEN = "{s}"', _fake(AN, 1500, 4), "token"),  # a value over 512
    ('STRIPE_KEY = "{s}"', _fake(AN, 40, 5), "secret"),
    ("HMAC_KEY={s}", _fake(HX, 64, 6), "secret"),
    ("JWT_KEY: {s}", _fake(AN, 48, 7), "secret"),
    ('FERNET_KEY = b"{s}"', _fake(AN + "-_", 43, 8) + "=", "secret"),
    ("  credentials: {s}", base64.b64encode(b"ci:" + _fake(AN, 24, 9).encode()).decode(), "secret"),
    (
        "Cookie: csrftoken=abc; sessionid={s}; theme=dark",
        _fake("abcdefghijklmnopqrstuvwxyz0123456789", 32, 10),
        "session-cookie",
    ),
    ("api_token: |\n  {s}\nnext: 1", _fake(AN, 40, 11), "token"),
    ('SIGNING_SECRET = (\n    "{s}"\n)', _fake(AN, 40, 12), "secret"),
    ("password = <<-EOT\n    {s}\n  EOT", _fake(AN, 22, 13), "password"),
    ("aws_secret_access_key =\n{s}\n", _fake(B64, 40, 14), "aws-secret-key"),
    ("User name,Password,Access key ID,Secret access key\nci,Xk9#mP2qLr8v,{s},x\n", None, None),  # below
    ("STRIPE={s}", "sk_test_" + _fake(AN, 99, 15), "stripe-key"),
    ("STRIPE={s}", "sk_prod_" + _fake(AN, 24, 16), "stripe-key"),
    ("STRIPE={s}", "rk_live_" + _fake(AN, 24, 17), "stripe-key"),
    ("DO={s}", "dop_v1_" + _fake(HX, 64, 18), "token"),
    ("runner: {s}", "glrt-" + _fake(AN, 20, 19), "gitlab-token"),
    ("curl -F token={s} https://gitlab/api", "glptt-" + _fake(HX, 40, 20), "gitlab-token"),
    ("deploy token {s}", "gldt-" + _fake(AN, 20, 21), "gitlab-token"),
    ("grafana: {s}", "glsa_" + _fake(AN, 32, 22) + "_" + _fake(HX, 8, 23), "token"),
    ("sentry: {s}", "sntryu_" + _fake(HX, 64, 24), "token"),
    ('sentry_sdk.init(dsn="https://{s}@o450.ingest.sentry.io/4507")', _fake(HX, 32, 25), "sentry-dsn-key"),
    ("LINEAR={s}", "lin_api_" + _fake(AN, 40, 26), "api-key"),
    ("postman {s}", "PMAK-" + _fake(HX, 24, 27) + "-" + _fake(HX, 34, 28), "api-key"),
    ("nr: {s}", "NRAK-" + _fake(AN.upper()[26:], 27, 29), "api-key"),
    ("PLANETSCALE={s}", "pscale_tkn_" + _fake(AN, 43, 30), "token"),
    ("bot token {s} stopped working", "5839204711:AA" + _fake(AN + "-_", 33, 31), "token"),
    (
        "https://discord.com/api/webhooks/{s}",
        "1249" + _fake("0123456789", 15, 32) + "/" + _fake(AN + "-_", 68, 33),
        "webhook-url",
    ),
    (
        "https://acme.webhook.office.com/webhookb2/{s}",
        (
            f"{_fake(HX, 8, 34)}-1a2b-4c3d-8e4f-{_fake(HX, 12, 35)}@{_fake(HX, 8, 36)}-5a6b-4c7d-9e8f-{_fake(HX, 12, 37)}"
            f"/IncomingWebhook/{_fake(HX, 32, 38)}/{_fake(HX, 8, 39)}-2b3c-4d5e-af60-{_fake(HX, 12, 40)}"
        ),
        "webhook-url",
    ),
    ("https://a.blob.core.windows.net/c/f?sv=2022-11-02&sp=r&sig={s}", _fake(AN, 40, 41) + "%3D", "url-signature"),
    ("(use {s} for now)", AZ_SECRET, "secret"),
    ("db.internal:5432:billing:app:{s}", _fake(AN, 20, 42), "password"),
    ("jdbc:oracle:thin:ledger/{s}@//ora:1521/LEDGER", _fake(AN, 16, 43), "password"),
]
MISSED = [m for m in MISSED if m[1] is not None]


@pytest.mark.parametrize(("template", "secret", "kind"), MISSED, ids=[m[0][:40] for m in MISSED])
def test_missed_shapes_are_caught(template, secret, kind):
    text = template.format(s=secret)
    result = redact(text)
    assert secret not in result.text
    assert result.text == template.format(s=f"[REDACTED {kind}]")
    assert dict(result.counts) == {kind: 1}
    assert redact(result.text).text == result.text


def test_a_concatenated_string_is_redacted_whole():
    a, b = _fake(AN, 20, 50), _fake(AN, 20, 51)
    for text in (
        f'CLIENT_SECRET = "{a}" + \\\n    "{b}"',
        f'CLIENT_SECRET = "{a}" "{b}"',
        f'api_key = "{a}" +\n  "{b}";',
    ):
        result = redact(text)
        assert a not in result.text and b not in result.text, text
        assert dict(result.counts) == {"secret" if "SECRET" in text else "api-key": 1}


def test_aws_credentials_csv_loses_password_and_secret_but_keeps_the_rest():
    secret, pw = _fake(B64, 40, 52), "Xk9#mP2qLr8v!"
    csv = (
        "User name,Password,Access key ID,Secret access key,Console login link\n"
        f"ci-deployer,{pw},AKIA{_fake(AN.upper()[26:], 16, 53)},{secret},https://acme.signin.aws.amazon.com/console\n"
    )
    result = redact(csv)
    assert result.text.startswith(
        "User name,Password,Access key ID,Secret access key,Console login link\n"
        "ci-deployer,[REDACTED password],[REDACTED aws-access-key],[REDACTED aws-secret-key],https://"
    )
    assert dict(result.counts) == {"password": 1, "aws-access-key": 1, "aws-secret-key": 1}


def test_putty_and_ssh2_private_keys_are_replaced_whole():
    lines = [_fake(B64, 64, 60 + i) for i in range(8)]
    ppk = (
        "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n"
        + "\n".join(lines[:2])
        + "\nPrivate-Lines: 6\n"
        + "\n".join(lines[2:])
        + "\nPrivate-MAC: "
        + _fake(HX, 40, 70)
    )
    assert redact(f"key:\n{ppk}\nthanks").text == "key:\n[REDACTED private-key]\nthanks"
    ssh2 = (
        '---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: "rsa-key"\n'
        + "\n".join(lines)
        + "\n---- END SSH2 ENCRYPTED PRIVATE KEY ----"
    )
    assert redact(ssh2 + "\n").text == "[REDACTED private-key]\n"
    public = "---- BEGIN SSH2 PUBLIC KEY ----\n" + "\n".join(lines[:3]) + "\n---- END SSH2 PUBLIC KEY ----"
    assert redact(public).text == public


NEAR_MISSES = [
    "Set STRIPE_KEY to `sk_test_xxxxxxxxxxxxxxxxxxxxxxxx` (or sk_test_your_key_here).",
    'CACHE_KEY = "user:{id}"',
    'PRIMARY_KEY = "id"\nSORT_KEY = "created_at"\nPARTITION_KEY = "tenant_id"',
    'SETTINGS_KEY = "UserProfileCacheV2"',
    "RegEnumKey = win32api.RegEnumKey",
    "https://cdn.acme.dev/logo.svg?sig=v2&size=64",
    "https://docs.acme.dev/hooks?signature=sha256&sig=hmac",
    'PIXEL = "data:image/png;base64,' + base64.b64encode(bytes(range(256)) * 2).decode() + '"',
    "certifi==2024.6.2 --hash=sha256:" + hashlib.sha256(b"x").hexdigest(),
    "password:\n  secretKeyRef:\n    name: db\ntoken:\n  - read",
    'SECRET_NAME = (\n    "billing-db-credentials"\n)',
    "Cookie: theme=dark; lang=en-US",
    "localhost:5432:*:app:*",
    "https://discord.com/api/webhooks/{webhook_id}/{webhook_token}",
    "X-Amz-Credential=AKIA%2F20240611%2Feu-west-1%2Fs3%2Faws4_request",
    'credentials = "include"',
]


@pytest.mark.parametrize("text", NEAR_MISSES, ids=[t[:40] for t in NEAR_MISSES])
def test_near_misses_of_the_new_rules_are_kept(text):
    result = redact(text)
    assert result.text == text, f"mangled: {result.text!r}"


# ---- JSON Web Tokens: the header decides -----------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_JWT_PAYLOAD = _b64url(json.dumps({"sub": "4211", "exp": 1719000000}).encode())
_JWT_SIGNATURE = "Kd8Fs2Ag4Lp6Bn3Hj5Zx81kLmq02Pq7RtY6uVwQe9Ws"


JWT_HEADERS = [
    {"alg": "HS256", "typ": "JWT"},
    {"alg": "RS256"},  # alg alone
    {"typ": "JWT"},  # typ alone
    {"alg": "none"},
    {"alg": "ES256", "typ": "JWT", "kid": "2024-06"},
]


def _header(obj: dict) -> str:
    return _b64url(json.dumps(obj, separators=(",", ":")).encode())


@pytest.mark.parametrize("header", JWT_HEADERS)
def test_a_jwt_is_redacted_whatever_padding_its_header_would_need(header):
    token = f"{_header(header)}.{_JWT_PAYLOAD}.{_JWT_SIGNATURE}"
    assert token.startswith("eyJ")
    result = redact(f"Authorization: Bearer {token}")
    assert result.text == "Authorization: Bearer [REDACTED jwt]"
    assert dict(result.counts) == {"jwt": 1}


def test_the_headers_above_need_every_amount_of_base64_padding():
    assert {len(_header(h)) % 4 for h in JWT_HEADERS} == {0, 2, 3}  # (1 mod 4 is no base64)


@pytest.mark.parametrize(
    "header",
    [
        b'{"sub":"4211","name":"x"}',  # JSON, but no alg or typ: a payload, not a header
        b'["alg","typ"]',  # not an object
        b'{"alg" "HS256"}',  # not JSON
        b'{"alg":"\xff\xfe"}',  # not UTF-8
    ],
)
def test_a_jwt_shaped_string_whose_header_is_no_jwt_header_is_kept(header):
    token = f"{_b64url(header)}.{_JWT_PAYLOAD}.{_JWT_SIGNATURE}"
    assert token.startswith("eyJ") or header.startswith(b"[")
    text = f"cursor = {token}"
    result = redact(text)
    assert result.text == text and dict(result.counts) == {}


def test_a_jwt_shaped_string_that_is_no_base64_is_kept():
    text = "id: eyJhbGciOiJIUzI1NiJ9x.eyJzdWIiOiI0MjExIn0.sig"  # header of 5 mod 4 characters
    assert redact(text).text == text
