"""Settings from the environment (and a `.env` file), with clear errors.

Everything the bot can be told lives in one frozen `Settings`; nothing else reads
`os.environ` except the anthropic SDK, which reads `ANTHROPIC_BASE_URL` itself.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dotenv import load_dotenv

from bot.errors import ConfigError
from bot.models import EFFORTS, MAX_OUTPUT_TOKENS
from bot.usage import DEFAULT_PRICES, Price, parse_prices

T = TypeVar("T", int, float)
V = TypeVar("V")

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_OPS_HOST = "127.0.0.1"  # the operator endpoints are reachable from this machine only, unless told
DEFAULT_MODEL = "claude-sonnet-5-5"
DEFAULT_MODEL_ALIASES = {
    "sonnet": "claude-sonnet-5-5",
    "opus": "claude-opus-5-5",
    "haiku": "claude-haiku-5-5",
}


@dataclass(frozen=True)
class Problem:
    """A missing or wrong setting, said the way an operator can act on it."""

    variable: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.message}. {self.fix}"


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    agents_dir: Path | None = None  # None: the agents shipped with the bot
    data_dir: Path = Path("data")
    default_model: str = DEFAULT_MODEL
    model_aliases: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MODEL_ALIASES))
    default_agent: str = "backend-senior-engineer"
    review_agent: str = "backend-senior-engineer"
    routing: bool = True
    router_model: str = "claude-haiku-5-5"
    router_timeout_s: float = 10.0
    effort: str = "medium"  # chat answers: a fast first token matters more than the deepest thought
    review_effort: str = "high"  # reviews are read carefully and asked for on purpose
    max_tokens: int | None = None  # None: room for the thinking the effort brings (models.py)
    max_context_tokens: int = 150_000
    claude_timeout_s: float = 120.0
    answer_deadline_s: float = 180.0
    max_concurrency: int = 8
    user_max_queued: int = 10  # one person's questions waiting at once; more are declined with one reply
    allowed_channels: frozenset[str] | None = None  # None: every channel
    user_daily_tokens: int | None = None  # None: unlimited
    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    shutdown_grace_s: float = 30.0
    ops_port: int | None = None  # serve /healthz, /readyz, /metrics on this port (None: /readyz and /metrics off)
    ops_host: str = DEFAULT_OPS_HOST
    http_port: int | None = None  # BOT_HTTP_PORT, deprecated: ops_port's old name, Socket Mode only
    log_level: str = "INFO"
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_token: str | None = None
    github_repos: tuple[str, ...] | None = None  # None: any repository GITHUB_TOKEN can read
    retention_days: float = 7.0  # finished jobs (the Slack events they answered) are kept this long

    @property
    def slack_configured(self) -> bool:
        """Any Slack credential set: the operator means to connect to Slack (else: the playground)."""
        return bool(self.slack_bot_token or self.slack_app_token or self.slack_signing_secret)

    def problems(self, *, slack: bool, socket_mode: bool = False, http: bool = False) -> list[Problem]:
        """What stops the bot from running in the given mode (empty when nothing does)."""
        found: list[Problem] = []
        if not self.anthropic_api_key and not self.anthropic_base_url:  # a gateway may need no key
            found.append(
                Problem(
                    "ANTHROPIC_API_KEY",
                    "not set",
                    "Create a key at https://console.anthropic.com/settings/keys and put ANTHROPIC_API_KEY=... in .env",
                )
            )
        if slack:
            found += _token_problems(
                "SLACK_BOT_TOKEN",
                self.slack_bot_token,
                "xoxb-",
                "Install the app to your workspace, then copy 'Bot User OAuth Token' from "
                "OAuth & Permissions into .env as SLACK_BOT_TOKEN=xoxb-...",
            )
        if socket_mode:
            found += _token_problems(
                "SLACK_APP_TOKEN",
                self.slack_app_token,
                "xapp-",
                "In the app's Basic Information, under App-Level Tokens, generate a token with "
                "the connections:write scope and put SLACK_APP_TOKEN=xapp-... in .env "
                "(or run with --http instead).",
            )
        if http and not self.slack_signing_secret:
            found.append(
                Problem(
                    "SLACK_SIGNING_SECRET",
                    "not set (HTTP mode verifies every request with it)",
                    "Copy 'Signing Secret' from the app's Basic Information into .env as SLACK_SIGNING_SECRET=...",
                )
            )
        return found


def _token_problems(variable: str, value: str | None, prefix: str, fix: str) -> list[Problem]:
    if not value:
        return [Problem(variable, "not set", fix)]
    if not value.startswith(prefix):
        # Say which kind it looks like, never the value itself.
        return [Problem(variable, f"does not look like a {prefix}… token", fix)]
    return []


LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class _Bad(Exception):
    """One unusable setting, raised by the readers below and collected by `read_settings`."""

    def __init__(self, variable: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.problem = Problem(variable, message, fix)


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path = ".env") -> Settings:
    """Settings from `environ`; by default the process environment after reading `.env`.

    The real environment wins over `.env` (python-dotenv does not override), and the file's
    values land in `os.environ` so the anthropic SDK sees `ANTHROPIC_BASE_URL` too.
    Raises ConfigError naming every unusable setting (`.problems`), not just the first.
    """
    settings, problems = read_settings(environ, env_file)
    if problems:
        lines = tuple(f"{p.variable} {p.message}. {p.fix}" for p in problems)
        raise ConfigError("; ".join(lines), lines)
    return settings


def read_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path = ".env"
) -> tuple[Settings, list[Problem]]:
    """Settings plus every unusable setting found; each unusable one takes its default, so
    `check` can go on to check agents and tokens and list every problem at once."""
    if environ is None:
        load_dotenv(env_file, override=False)
        environ = os.environ
    env = {k: v for k, v in environ.items() if v != ""}
    problems: list[Problem] = []

    def take(read: Callable[[], V], default: V) -> V:
        try:
            return read()
        except _Bad as bad:
            problems.append(bad.problem)
            return default

    aliases = dict(DEFAULT_MODEL_ALIASES)
    for alias in aliases:
        override = env.get(f"BOT_MODEL_{alias.upper()}")
        if override:
            aliases[alias] = override

    agents_dir = env.get("BOT_AGENTS_DIR")
    settings = Settings(
        slack_bot_token=env.get("SLACK_BOT_TOKEN"),
        slack_app_token=env.get("SLACK_APP_TOKEN"),
        slack_signing_secret=env.get("SLACK_SIGNING_SECRET"),
        slack_api_url=_with_trailing_slash(env.get("SLACK_API_URL", DEFAULT_SLACK_API_URL)),
        anthropic_api_key=env.get("ANTHROPIC_API_KEY"),
        anthropic_base_url=env.get("ANTHROPIC_BASE_URL"),
        agents_dir=Path(agents_dir) if agents_dir else None,
        data_dir=Path(env.get("BOT_DATA_DIR", "data")),
        default_model=env.get("BOT_DEFAULT_MODEL", DEFAULT_MODEL),
        model_aliases=aliases,
        default_agent=env.get("BOT_DEFAULT_AGENT", "backend-senior-engineer"),
        review_agent=env.get("BOT_REVIEW_AGENT", "backend-senior-engineer"),
        routing=take(lambda: _switch(env, "BOT_ROUTING", True), True),
        router_model=env.get("BOT_ROUTER_MODEL", "claude-haiku-5-5"),
        router_timeout_s=take(lambda: _positive(env, "BOT_ROUTER_TIMEOUT_S", 10.0, float, "a number of seconds"), 10.0),
        effort=take(lambda: _effort(env, "BOT_EFFORT", "medium"), "medium"),
        review_effort=take(lambda: _effort(env, "BOT_REVIEW_EFFORT", "high"), "high"),
        max_tokens=take(lambda: _max_tokens(env), None),
        max_context_tokens=take(
            lambda: _positive(env, "BOT_MAX_CONTEXT_TOKENS", 150_000, int, "a whole number"), 150_000
        ),
        claude_timeout_s=take(
            lambda: _positive(env, "BOT_CLAUDE_TIMEOUT_S", 120.0, float, "a number of seconds"), 120.0
        ),
        max_concurrency=take(lambda: _positive(env, "BOT_MAX_CONCURRENCY", 8, int, "a whole number"), 8),
        user_max_queued=take(lambda: _positive(env, "BOT_USER_MAX_QUEUED", 10, int, "a whole number"), 10),
        allowed_channels=take(lambda: _allowed_channels(env), None),
        user_daily_tokens=take(
            lambda: (
                _positive(env, "BOT_USER_DAILY_TOKENS", 0, int, "a whole number") or None
                if env.get("BOT_USER_DAILY_TOKENS")
                else None
            ),
            None,
        ),
        prices={**DEFAULT_PRICES, **take(lambda: _prices(env), {})},
        ops_port=take(lambda: _port(env, "BOT_OPS_PORT"), None),
        ops_host=env.get("BOT_OPS_HOST", DEFAULT_OPS_HOST).strip() or DEFAULT_OPS_HOST,
        http_port=take(lambda: _port(env, "BOT_HTTP_PORT"), None),
        shutdown_grace_s=take(lambda: _positive(env, "BOT_SHUTDOWN_GRACE_S", 30.0, float, "a number of seconds"), 30.0),
        answer_deadline_s=take(
            lambda: _positive(env, "BOT_ANSWER_DEADLINE_S", 180.0, float, "a number of seconds"), 180.0
        ),
        log_level=take(lambda: _log_level(env), "INFO"),
        github_api_url=env.get("GITHUB_API_URL", DEFAULT_GITHUB_API_URL),
        github_token=env.get("GITHUB_TOKEN"),
        github_repos=take(lambda: _github_repos(env), None),
        retention_days=take(lambda: _positive(env, "BOT_RETENTION_DAYS", 7.0, float, "a number of days"), 7.0),
    )
    return settings, problems


def data_dir_problems(data_dir: Path) -> list[Problem]:
    """Why the bot could not keep its database in `data_dir` (empty when it can): a folder that
    exists and is writable, or can be created. Probes with a temporary file, deleted at once."""
    fix = "Set BOT_DATA_DIR to a folder the bot's user can write to (it is created when missing)"
    if data_dir.exists() and not data_dir.is_dir():
        return [Problem("BOT_DATA_DIR", f"{data_dir} is a file, not a folder", fix)]
    target = data_dir
    while not target.exists() and target != target.parent:
        target = target.parent
    if not target.is_dir():
        return [Problem("BOT_DATA_DIR", f"{data_dir} cannot be created: {target} is a file, not a folder", fix)]
    try:
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as error:
        where = f"{data_dir} is" if target == data_dir else f"{data_dir} cannot be created: {target} is"
        return [Problem("BOT_DATA_DIR", f"{where} not writable ({error.strerror or error})", fix)]
    return []


def _with_trailing_slash(url: str) -> str:
    # slack_sdk joins base_url and the method name by plain concatenation.
    return url if url.endswith("/") else url + "/"


def _log_level(env: Mapping[str, str]) -> str:
    raw = env.get("BOT_LOG_LEVEL", "INFO")
    value = raw.strip().upper()
    if value not in LOG_LEVELS:
        raise _Bad(
            "BOT_LOG_LEVEL",
            f"must be one of {', '.join(LOG_LEVELS)}, got {raw!r}",
            "Set BOT_LOG_LEVEL=INFO (or another of those), or remove it for INFO",
        )
    return value


def _allowed_channels(env: Mapping[str, str]) -> frozenset[str] | None:
    raw = env.get("BOT_ALLOWED_CHANNELS")
    if not raw:
        return None
    channels = frozenset(c.strip() for c in raw.split(",") if c.strip())
    wrong = sorted(c for c in channels if not _CHANNEL_ID.match(c))
    if wrong:
        raise _Bad(
            "BOT_ALLOWED_CHANNELS",
            f"takes channel ids (like C0123ABCD), comma-separated; got {', '.join(repr(c) for c in wrong)}",
            "Use ids, not names: in Slack, open the channel's details (click its name); the channel id "
            "(C…, or G… for an old private channel, D… for a DM) is at the bottom of the About tab",
        )
    return channels


def _effort(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default).strip().lower()
    if value not in EFFORTS:
        raise _Bad(
            name,
            f"must be one of {', '.join(EFFORTS)}, got {env[name]!r}",
            f"Set {name} to one of those, or remove it for {default}",
        )
    return value


_REPO_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+/(\*|[A-Za-z0-9_.-]+)$")


def _github_repos(env: Mapping[str, str]) -> tuple[str, ...] | None:
    raw = env.get("BOT_GITHUB_REPOS")
    if not raw:
        return None
    patterns = tuple(p.strip() for p in raw.split(",") if p.strip())
    wrong = [p for p in patterns if not _REPO_PATTERN.match(p) or ".." in p]
    if wrong:
        raise _Bad(
            "BOT_GITHUB_REPOS",
            f"takes owner/* or owner/repo, comma-separated; got {', '.join(wrong)}",
            "Write it like BOT_GITHUB_REPOS=acme/*,other/api, or remove it to allow what GITHUB_TOKEN can read",
        )
    return patterns


def _max_tokens(env: Mapping[str, str]) -> int | None:
    if not env.get("BOT_MAX_TOKENS"):
        return None
    value = _positive(env, "BOT_MAX_TOKENS", 0, int, "a whole number")
    if value > MAX_OUTPUT_TOKENS:  # the Messages API refuses a larger max_tokens
        raise _Bad(
            "BOT_MAX_TOKENS",
            f"must be at most {MAX_OUTPUT_TOKENS:,} (the models' output limit), got {value}",
            "Lower it, or remove it to size it from the effort",
        )
    return value


def _prices(env: Mapping[str, str]) -> dict[str, Price]:
    try:
        return parse_prices(env.get("BOT_PRICES", ""))
    except ValueError as error:
        message = str(error).removeprefix("BOT_PRICES: ").removeprefix("BOT_PRICES ")
        raise _Bad(
            "BOT_PRICES",
            message,
            "Write it like BOT_PRICES=model=3/15[/0.3],other=1/5 (USD per million tokens in/out[/cache read])",
        ) from None


def _port(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None:
        return None
    fix = f"Set {name} to a free port between 1 and 65535, or remove it"
    try:
        value = int(raw)
    except ValueError:
        raise _Bad(name, f"must be a port number (1 to 65535), got {raw!r}", fix) from None
    if not 1 <= value <= 65535:
        raise _Bad(name, f"must be a port number (1 to 65535), got {value}", fix)
    return value


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in ("on", "true", "1", "yes"):
        return True
    if raw.strip().lower() in ("off", "false", "0", "no"):
        return False
    raise _Bad(name, f"must be on or off, got {raw!r}", f"Set {name}=on or {name}=off")


def _positive(env: Mapping[str, str], name: str, default: T, kind: Callable[[str], T], what: str) -> T:
    raw = env.get(name)
    if raw is None:
        return default
    fix = f"Set {name} to {what} greater than 0" + (", or remove it for the default" if default else "")
    try:
        value = kind(raw)
    except ValueError:
        raise _Bad(name, f"must be {what}, got {raw!r}", fix) from None
    if value <= 0:
        raise _Bad(name, f"must be greater than 0, got {value}", fix)
    return value
