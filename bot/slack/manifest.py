"""Check a Slack app manifest (YAML) before it is pasted into Slack.

``manifest_problems(path)`` returns human-readable problems, an empty list when the
manifest is fine. It checks, in order:

1. the file exists and is readable,
2. it is well-formed YAML (syntax errors name the line),
3. it is valid against Slack's own manifest JSON schema (shipped in this package as
   ``manifest.schema.json``, MIT licensed, see ``LICENSE.manifest-schema``), each
   violation prefixed by its path in the manifest, e.g.
   ``features.slash_commands[0].command: ...``,
4. it gives this bot what it needs: the bot scopes, the bot events, the
   ``/backend-review`` command, and interactivity turned on.

5. when a mode is given, what that mode needs: Socket Mode needs
   ``settings.socket_mode_enabled: true``; HTTP mode needs it false and request URLs
   (``settings.event_subscriptions.request_url``, ``settings.interactivity.request_url``
   and the review command's ``url``), else Slack has nowhere to send events.

Without a mode, either is fine: both are supported.
"""

from __future__ import annotations

import functools
import json
import pathlib
from collections.abc import Iterable
from importlib import resources
from typing import Any, Literal

import jsonschema
import yaml

__all__ = [
    "REQUIRED_BOT_EVENTS",
    "REQUIRED_BOT_SCOPES",
    "REVIEW_COMMAND",
    "load_schema",
    "manifest_problems",
]

REQUIRED_BOT_SCOPES: tuple[str, ...] = (
    "app_mentions:read",
    "chat:write",
    "commands",
    "channels:history",
    "groups:history",
    "im:history",
    "im:write",
    "mpim:history",
    "files:read",
    "reactions:write",
    "users:read",
)

REQUIRED_BOT_EVENTS: tuple[str, ...] = (
    "app_mention",
    "message.channels",
    "message.groups",
    "message.im",
    "message.mpim",
)

REVIEW_COMMAND = "/backend-review"

_SCHEMA_PACKAGE = "bot.slack"
_SCHEMA_RESOURCE = "manifest.schema.json"
_MAX_MESSAGE = 300


@functools.lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """Slack's manifest JSON schema, as shipped inside this package."""
    text = resources.files(_SCHEMA_PACKAGE).joinpath(_SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = load_schema()
    # The schema declares its own dialect ($schema: draft-07); use the matching validator.
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def manifest_problems(path: pathlib.Path, mode: Literal["socket", "http"] | None = None) -> list[str]:
    """Problems with the manifest at ``path``; an empty list means it is fine. With ``mode``,
    also what running in that mode needs from it.

    Never raises for a bad manifest: a missing file, broken YAML or a schema
    violation are all reported as problems.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [f"{path}: manifest file not found"]
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read manifest: {exc}"]

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"{path}: {_describe_yaml_error(exc)}"]

    if data is None:
        return [f"{path}: manifest is empty"]

    problems = [f"{_format_path(where)}: YAML key {key!r} is not a string" for where, key in _non_string_keys(data, [])]
    if problems:
        # Let the schema see string keys, so one bad key doesn't hide every other problem.
        data = _stringify_keys(data)

    problems.extend(_schema_problems(data))
    problems.extend(_bot_needs(data))
    if mode is not None:
        problems.extend(_mode_needs(data, mode))
    return problems


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is not None:
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        what = problem or str(exc)
        context = getattr(exc, "context", None)
        if context:
            what = f"{what} ({context})"
        return f"YAML syntax error at {where}: {what}"
    return f"YAML syntax error: {exc}"


def _schema_problems(data: Any) -> list[str]:
    errors = sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_format_path(e.absolute_path)}: {_describe_schema_error(e)}" for e in errors]


def _describe_schema_error(error: jsonschema.ValidationError) -> str:
    # jsonschema's own messages quote the whole offending value; for long text that is noise.
    if error.validator in ("minLength", "maxLength") and isinstance(error.instance, str):
        bound = "at least" if error.validator == "minLength" else "at most"
        return f"is {len(error.instance)} characters long, must be {bound} {error.validator_value}"
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return message


def _format_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


def _non_string_keys(node: Any, where: list[Any]) -> list[tuple[list[Any], Any]]:
    found: list[tuple[list[Any], Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                found.append((where, key))
            found.extend(_non_string_keys(value, [*where, str(key)]))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(_non_string_keys(item, [*where, index]))
    return found


def _stringify_keys(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _stringify_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_stringify_keys(item) for item in node]
    return node


def _get(data: Any, *keys: str) -> Any:
    """data[k1][k2]... or None when any level is missing or not a mapping."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _strings(value: Any) -> set[str]:
    if not isinstance(value, list):
        return set()
    return {item for item in value if isinstance(item, str)}


def _bot_needs(data: Any) -> list[str]:
    """What this bot needs from the manifest, beyond what Slack's schema requires."""
    problems: list[str] = []

    scopes = _strings(_get(data, "oauth_config", "scopes", "bot"))
    for scope in REQUIRED_BOT_SCOPES:
        if scope not in scopes:
            problems.append(f"oauth_config.scopes.bot: missing bot scope {scope!r} (the bot needs it)")

    events = _strings(_get(data, "settings", "event_subscriptions", "bot_events"))
    for event in REQUIRED_BOT_EVENTS:
        if event not in events:
            problems.append(f"settings.event_subscriptions.bot_events: missing bot event {event!r} (the bot needs it)")

    commands = _get(data, "features", "slash_commands")
    names = {c.get("command") for c in commands if isinstance(c, dict)} if isinstance(commands, list) else set()
    if REVIEW_COMMAND not in names:
        problems.append(f"features.slash_commands: missing slash command {REVIEW_COMMAND!r} (the bot needs it)")

    if _get(data, "settings", "interactivity", "is_enabled") is not True:
        problems.append("settings.interactivity.is_enabled: must be true (the bot needs interactivity on)")

    return problems


def _mode_needs(data: Any, mode: Literal["socket", "http"]) -> list[str]:
    """What Socket Mode or HTTP mode needs from the manifest."""
    socket_mode = _get(data, "settings", "socket_mode_enabled") is True
    if mode == "socket":
        if socket_mode:
            return []
        why = "must be true for Socket Mode (or run in HTTP mode with --http, with request URLs in the manifest)"
        return [f"settings.socket_mode_enabled: {why}"]
    url_fix = "set it to https://<your host>/slack/events"
    problems: list[str] = []
    if socket_mode:
        problems.append(
            "settings.socket_mode_enabled: is true, so Slack sends nothing to a request URL; "
            "set it to false for HTTP mode (or run without --http)"
        )
    if not _get(data, "settings", "event_subscriptions", "request_url"):
        problems.append(f"settings.event_subscriptions.request_url: missing, HTTP mode needs it; {url_fix}")
    if not _get(data, "settings", "interactivity", "request_url"):
        problems.append(f"settings.interactivity.request_url: missing, HTTP mode needs it; {url_fix}")
    commands = _get(data, "features", "slash_commands")
    for index, command in enumerate(commands if isinstance(commands, list) else []):
        if isinstance(command, dict) and command.get("command") == REVIEW_COMMAND and not command.get("url"):
            problems.append(
                f"features.slash_commands[{index}].url: missing for {REVIEW_COMMAND}, HTTP mode needs it; {url_fix}"
            )
    return problems
