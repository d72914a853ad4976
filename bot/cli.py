"""Command line: run / check / ask / redact. Argument parsing and wiring only."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Problem, Settings, load_settings
from bot.errors import ConfigError
from bot.logs import log_event, setup_logging

if TYPE_CHECKING:  # the rest is imported by the command that needs it: `--help` loads no SDK
    from bot.agents import Agent, AgentCatalog
    from bot.claude import Answer
    from bot.conversation import Turn

log = logging.getLogger("bot")

TERMINAL_SURFACE = (
    "You are answering in a terminal. Write Markdown (it is shown as plain text): short "
    "paragraphs, lists and fenced code blocks with a language tag. Lead with the answer."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="backend-engineer", description="A senior backend engineer in Slack, powered by Claude."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="connect to Slack and answer (Socket Mode unless --http)")
    run.add_argument("--http", action="store_true", help="serve POST /slack/events instead of Socket Mode")
    run.add_argument("--host", default="0.0.0.0")
    run.add_argument("--port", type=int, default=3000)
    playground = commands.add_parser("playground", help="try the bot without Slack: a Slack-like page on 127.0.0.1")
    playground.add_argument("--port", type=int, default=3000)
    start = commands.add_parser("start", help="`run` when Slack is configured, else the playground (`make run`)")
    start.add_argument("--http", action="store_true", help="serve POST /slack/events instead of Socket Mode")
    start.add_argument("--host", default="0.0.0.0")
    start.add_argument("--port", type=int, default=3000)
    check = commands.add_parser("check", help="validate settings, agent files and manifest.yml")
    check.add_argument("--http", action="store_true", help="check the settings HTTP mode needs")
    check.add_argument("--manifest", type=Path, default=Path("manifest.yml"))
    commands.add_parser("agents", help="list the loaded agents, then the files that were skipped")
    usage = commands.add_parser("usage", help="Claude usage and cost by user, channel and agent")
    usage.add_argument("--days", type=int, default=7, help="the last N UTC days, today included (default 7)")
    ask = commands.add_parser("ask", help="answer one question in the terminal (no Slack)")
    ask.add_argument("question", nargs="+")
    redact_cmd = commands.add_parser(
        "redact", help="print FILE (or stdin) as the bot would send it, with the redactions counted by kind on stderr"
    )
    redact_cmd.add_argument("file", nargs="?", type=Path, help="the file to check (default: stdin)")
    args = parser.parse_args(argv)
    if args.command == "redact":  # needs no settings: a team checks its own files
        return redact_command(args.file)

    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"backend-engineer: {error}", file=sys.stderr)
        return 2
    if args.command == "check":
        return check_command(settings, args.http, args.manifest)
    if args.command == "agents":
        return agents_command(settings)
    if args.command == "usage":
        return usage_command(settings, args.days)
    setup_logging(settings.log_level)
    if args.command == "ask":
        return ask_command(settings, " ".join(args.question))
    if args.command == "playground":
        return playground_command(settings, args.port)
    if args.command == "start" and not settings.slack_configured:
        print(
            "No Slack tokens are set (SLACK_BOT_TOKEN, SLACK_APP_TOKEN in the environment or .env), so this is "
            "the playground: the real bot against a local Slack. README.md says how to connect it to Slack.",
            flush=True,
        )
        return playground_command(settings, args.port)
    return run_command(settings, args.http, args.host, args.port)


def _print_problems(problems: Sequence[Problem | str], heading: str) -> None:
    print(heading, file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)


def _usable_catalog(settings: Settings) -> tuple[AgentCatalog, list[str]]:
    from bot.agents import load_catalog

    catalog = load_catalog(settings)
    problems = [f"agent file {skipped}" for skipped in catalog.skipped]
    names = ", ".join(a.name for a in catalog.agents) or "none"
    for variable, name in (("BOT_DEFAULT_AGENT", settings.default_agent), ("BOT_REVIEW_AGENT", settings.review_agent)):
        if catalog.get(name) is None:
            problems.append(f"{variable}: agent {name!r} is not loaded (loaded: {names})")
    return catalog, problems


def agents_command(settings: Settings) -> int:
    from bot.agents import color_emoji, first_sentence, load_catalog, shipped_agents_dir

    catalog = load_catalog(settings)
    print(f"Agents from {settings.agents_dir or shipped_agents_dir()}:")
    for agent in catalog.agents:
        color = f"{color_emoji(agent.color)} {agent.color}" if agent.color else "no colour"
        effort = f", effort {agent.effort}" if agent.effort else ""
        print(
            f"  {agent.name}  [{agent.model}, {color}{effort}]  {agent.source}\n"
            f"      {first_sentence(agent.description)}"
        )
    for warning in catalog.warnings:
        print(f"  warning: {warning}")
    if catalog.skipped:
        print(f"Skipped {len(catalog.skipped)} file(s):")
        for skipped in catalog.skipped:
            print(f"  {skipped.source}: {skipped.reason}")
    if not catalog.agents:
        print("No agent loaded: the bot cannot answer.", file=sys.stderr)
        return 1
    return 0


def usage_command(settings: Settings, days: int) -> int:
    from bot.store import Store
    from bot.usage import format_totals

    store = Store.in_data_dir(settings.data_dir, settings.retention_days)
    print(f"Claude usage over the last {days} day(s), from {settings.data_dir / 'bot.sqlite3'}:")
    unpriced = False
    for by in ("user", "channel", "agent"):
        rows = store.usage_totals(by, days)
        unpriced = unpriced or any(row.unpriced_calls for row in rows)
        print()
        print(format_totals(f"by {by}", rows) if rows else f"by {by}: no calls")
    if unpriced:
        print(
            "\n* includes calls to a model with no price: set BOT_PRICES=model=in/out[/cache_read] (USD per million tokens)"
        )
    return 0


def check_command(settings: Settings, http: bool, manifest: Path) -> int:
    from bot.models import max_tokens_for
    from bot.slack.manifest import manifest_problems

    problems: list[str] = [str(p) for p in settings.problems(slack=True, socket_mode=not http, http=http)]
    catalog, agent_problems = _usable_catalog(settings)
    problems += agent_problems + [f"{manifest}: {p}" for p in manifest_problems(manifest)]
    for agent in catalog.agents:
        effort = f", effort {agent.effort}" if agent.effort else ""
        print(f"agent {agent.name}: model {agent.model}{effort}, from {agent.source}")
    print(
        f"thinking: answers at effort {settings.effort} (max_tokens "
        f"{max_tokens_for(settings.effort, settings.max_tokens):,}), reviews at {settings.review_effort} "
        f"({max_tokens_for(settings.review_effort, settings.max_tokens):,}); "
        f"routing {'with ' + settings.router_model if settings.routing else 'off'}"
    )
    for warning in catalog.warnings:
        print(f"warning: {warning}")
    if problems:
        _print_problems(
            problems, f"{len(problems)} problem(s) stop the bot from running in {'HTTP' if http else 'Socket'} mode:"
        )
        return 1
    print(f"All good: settings, {len(catalog.agents)} agent(s) and {manifest} are ready.")
    return 0


def redact_command(path: Path | None) -> int:
    from collections import Counter

    from bot.redact import KINDS, redact

    text = sys.stdin.read() if path is None else path.read_text(encoding="utf-8", errors="replace")
    result = redact(text)
    sys.stdout.write(result.text)
    sys.stdout.flush()
    counts = Counter(result.counts)
    print(result.summary() or "Nothing to redact.", file=sys.stderr)
    for kind in sorted(counts, key=lambda k: list(KINDS).index(k) if k in KINDS else len(KINDS)):
        print(f"  {counts[kind]:>4}  {kind}", file=sys.stderr)
    return 0


def ask_command(settings: Settings, text: str) -> int:
    problems = settings.problems(slack=False)
    catalog, agent_problems = _usable_catalog(settings)
    if problems or catalog.get(settings.default_agent) is None:
        _print_problems([*problems, *agent_problems], "Cannot answer:")
        return 2
    from bot.conversation import Turn
    from bot.redact import redact
    from bot.slack.events import new_request_id
    from bot.wiring import create_answerer

    sink = TerminalSink()
    answerer = create_answerer(settings, catalog)

    async def conversation() -> list[Turn]:
        return [Turn("user", redact(text).text)]  # secrets never leave, from the terminal either

    async def ask_once() -> Answer | None:
        try:
            return await answerer.answer(new_request_id(), conversation, sink, TERMINAL_SURFACE)
        finally:
            await answerer.claude.aclose()

    answer = asyncio.run(ask_once())
    return 0 if answer is not None else 1


class TerminalSink:
    """Answers to stdout as they stream; footer and failures to stderr."""

    async def working(self) -> None:
        print("thinking…", file=sys.stderr, flush=True)

    async def append(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    async def thinking(self) -> None:
        pass  # "thinking…" is already on the terminal

    async def retrying(self, status: str) -> None:
        print(status, file=sys.stderr, flush=True)

    async def restart(self) -> None:
        print("\n[the answer broke off; starting again]\n", flush=True)

    async def finish(self, answer: Answer, agent: Agent) -> None:
        from bot.claude import fallback_notice

        sys.stdout.write("\n")
        if answer.note:
            print(f"\n⚠️ {answer.note}")
        if answer.fallback_from:
            print(f"⚠️ {fallback_notice(answer.fallback_from)}", file=sys.stderr)
        u = answer.usage
        print(
            f"— {agent.name} · {answer.model} · {u.input_tokens} in, {u.output_tokens} out "
            f"({u.thinking_tokens} thinking), {u.cache_read_input_tokens} cache read, "
            f"{u.cache_creation_input_tokens} cache write",
            file=sys.stderr,
        )

    async def fail(self, message: str, warning: bool = True) -> None:
        print(f"\n⚠️ {message}" if warning else message, file=sys.stderr)


def playground_command(settings: Settings, port: int) -> int:
    catalog, agent_problems = _usable_catalog(settings)
    if catalog.get(settings.default_agent) is None:
        _print_problems(agent_problems, "The playground can't start:")
        return 2
    for warning in [*catalog.warnings, *agent_problems]:
        log_event(log, "agent_warning", logging.WARNING, detail=warning)
    from bot.errors import PortUnavailable
    from bot.playground.app import run_playground
    from bot.slack.server import stop_on_signals

    async def serve() -> None:
        await run_playground(settings, catalog, port, stop_on_signals())

    try:
        asyncio.run(serve())
    except PortUnavailable as error:
        print(f"backend-engineer: the playground {error}; pass --port to choose another port", file=sys.stderr)
        return 2
    except asyncio.CancelledError:  # stopped by a second Ctrl-C
        return 130
    return 0


def run_command(settings: Settings, http: bool, host: str, port: int) -> int:
    problems = settings.problems(slack=True, socket_mode=not http, http=http)
    catalog, agent_problems = _usable_catalog(settings)
    if problems or catalog.get(settings.default_agent) is None:
        _print_problems(
            [*problems, *agent_problems], "backend-engineer can't start yet. Set these in .env (see README.md):"
        )
        return 2
    ops_port = _ops_port(settings, http)
    if http and ops_port == port:
        print(
            f"backend-engineer: BOT_OPS_PORT ({ops_port}) must differ from --port, the events port: "
            "the operator endpoints are served apart from the port Slack reaches",
            file=sys.stderr,
        )
        return 2
    for warning in [*catalog.warnings, *agent_problems]:
        log_event(log, "agent_warning", logging.WARNING, detail=warning)
    from bot.errors import OpsPortUnavailable, PortUnavailable, StoreInUse

    try:
        asyncio.run(_serve(settings, catalog, http, host, port, ops_port))
    except (StoreInUse, OpsPortUnavailable, PortUnavailable) as error:
        print(f"backend-engineer: {error}", file=sys.stderr)
        return 2
    return 0


def _ops_port(settings: Settings, http: bool) -> int | None:
    """BOT_OPS_PORT; in Socket Mode, when it is not set, BOT_HTTP_PORT (its old, deprecated name,
    now bound to BOT_OPS_HOST like it). Logs, once, when BOT_HTTP_PORT is set."""
    if settings.http_port is None:
        return settings.ops_port
    if http:
        why = "it never applied to HTTP mode and is ignored"
    elif settings.ops_port is not None:
        why = "BOT_OPS_PORT is set too and wins"
    else:
        why = f"it serves the operator endpoints on BOT_OPS_HOST ({settings.ops_host}), no longer on --host"
    log_event(
        log,
        "deprecated_setting",
        logging.WARNING,
        variable="BOT_HTTP_PORT",
        use="BOT_OPS_PORT",
        detail=f"BOT_HTTP_PORT is deprecated, set BOT_OPS_PORT instead; {why}",
    )
    return settings.ops_port if http or settings.ops_port is not None else settings.http_port


async def _serve(
    settings: Settings, catalog: AgentCatalog, http: bool, host: str, port: int, ops_port: int | None
) -> None:
    from bot import diff_worker
    from bot.slack.app import create_app
    from bot.slack.server import run_http, run_socket_mode, stop_on_signals
    from bot.store import Store
    from bot.wiring import create_answerer

    store = Store.in_data_dir(settings.data_dir, settings.retention_days)
    answerer = create_answerer(settings, catalog, store=store)
    bot = create_app(settings, answerer, store)
    stop = stop_on_signals()
    try:
        if http:
            await run_http(bot, host, port, stop, settings.shutdown_grace_s, ops_port, settings.ops_host)
        else:
            assert settings.slack_app_token is not None
            await run_socket_mode(
                bot, settings.slack_app_token, stop, settings.shutdown_grace_s, ops_port, settings.ops_host
            )
    finally:
        await answerer.claude.aclose()
        store.close()
        diff_worker.shutdown()  # the process fitting large diffs


if __name__ == "__main__":
    sys.exit(main())
