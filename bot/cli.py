"""Command line: run / check / ask / redact. Argument parsing and wiring only."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot.config import Problem, Settings, data_dir_problems, load_settings, read_settings
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


REPO_ROOT = Path(__file__).resolve().parent.parent  # the folder above the `bot` package


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("backend-engineer")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _port(text: str) -> int:
    """argparse type: a TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number: pick one from 1 to 65535")
    return value


def _days(text: str) -> int:
    """argparse type: a whole number of days, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} days: give 1 or more (1 is today)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backend-engineer",
        description="A senior backend engineer in Slack, powered by Claude. Settings come from the "
        "environment and a .env file in the current folder; `check` says what is missing.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=description)

    def serving_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--http",
            action="store_true",
            help="serve POST /slack/events (needs SLACK_SIGNING_SECRET and a public URL) instead of Socket Mode",
        )
        sub.add_argument(
            "--host", default="0.0.0.0", help="HTTP mode: the address to listen on (default 0.0.0.0, every interface)"
        )
        sub.add_argument(
            "--port",
            type=_port,
            default=3000,
            help="HTTP mode (or the playground): the port to listen on (default 3000)",
        )

    run = command(
        "run",
        "connect to Slack and answer (Socket Mode unless --http)",
        "Connect to Slack and answer mentions, DMs and /backend-review. Socket Mode by default (needs "
        "SLACK_BOT_TOKEN and SLACK_APP_TOKEN); with --http, serves Slack's events on --host:--port.",
    )
    serving_options(run)
    playground = command(
        "playground",
        "try the bot without Slack: a Slack-like page on 127.0.0.1",
        "Try the bot without Slack: the real bot against a local, Slack-like page on 127.0.0.1. "
        "Needs ANTHROPIC_API_KEY only.",
    )
    playground.add_argument("--port", type=_port, default=3000, help="the page's port on 127.0.0.1 (default 3000)")
    start = command(
        "start",
        "`run` when Slack is configured, else the playground (`make run`)",
        "`run` when any Slack token is set, else the playground: what `make run` does.",
    )
    serving_options(start)
    check = command(
        "check",
        "validate settings, agent files and manifest.yml, listing every problem with its fix; then ask Slack "
        "and Anthropic whether they accept the tokens",
        "Validate every setting (types, ranges, log level, data folder, channel ids), the agent files and "
        "manifest.yml for the mode you will run in, and list every problem at once with its fix; then, when "
        "nothing is missing, ask Slack (auth.test, apps.connections.open) and Anthropic (the models list) "
        "whether they accept the tokens. Exit 0 when ready, 1 when something is missing, 2 when a setting has "
        "an unusable value or a token is rejected.",
    )
    check.add_argument(
        "--offline",
        action="store_true",
        help="make no network calls: check the settings without asking Slack or Anthropic",
    )
    check.add_argument("--http", action="store_true", help="check for HTTP mode (signing secret, request URLs)")
    check.add_argument(
        "--manifest",
        type=Path,
        default=None,
        metavar="PATH",
        help="the Slack app manifest to check (default: manifest.yml here, else the repository's)",
    )
    command(
        "agents",
        "list the loaded agents, then the files that were skipped",
        "List every loaded agent (name, model, colour, file, what it is for), then every skipped file and why.",
    )
    usage = command(
        "usage",
        "Claude usage and cost by user, channel and agent",
        "Claude usage and cost by user, channel and agent, from the bot's database in BOT_DATA_DIR.",
    )
    usage.add_argument(
        "--days", type=_days, default=7, metavar="N", help="the last N UTC days, today included (default 7)"
    )
    ask = command(
        "ask",
        "answer one question in the terminal (no Slack)",
        "Answer one question in the terminal, streamed as it is written. Needs ANTHROPIC_API_KEY only.",
    )
    ask.add_argument("question", nargs="+", help="the question (quote it, or pass it as several words)")
    ask.add_argument(
        "-v", "--verbose", action="store_true", help="log to stderr as `run` does (default: warnings only)"
    )
    redact_cmd = command(
        "redact",
        "print FILE (or stdin) as the bot would send it, with the redactions counted by kind on stderr",
        "Print FILE (or stdin) as the bot would send it to Claude, secrets redacted, with the redactions "
        "counted by kind on stderr. Needs no settings.",
    )
    redact_cmd.add_argument("file", nargs="?", type=Path, help="the file to check (default: stdin)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "redact":  # needs no settings: a team checks its own files
        return redact_command(args.file)
    if args.command == "check":
        settings, setting_problems = read_settings()
        return check_command(settings, args.http, args.manifest, setting_problems, offline=args.offline)

    try:
        settings = load_settings()
    except ConfigError as error:
        if len(error.problems) == 1:
            print(f"backend-engineer: {error.problems[0]}", file=sys.stderr)
        else:
            _print_problems(error.problems, f"backend-engineer: {len(error.problems)} settings can't be used:")
        return 2
    if args.command == "agents":
        return agents_command(settings)
    needs_data_dir = args.command in ("usage", "run", "ask") or (args.command == "start" and settings.slack_configured)
    if needs_data_dir and (data_problems := data_dir_problems(settings.data_dir)):
        _print_problems(data_problems, "backend-engineer can't use its data folder:")
        return 2
    if args.command == "usage":
        return usage_command(settings, args.days)
    if args.command == "ask":
        # The answer on stdout, nothing else in the terminal unless asked for.
        setup_logging(settings.log_level if args.verbose else "WARNING")
        return ask_command(settings, " ".join(args.question))
    setup_logging(settings.log_level)
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
    missing = [
        f"{variable}={name}"
        for variable, name in (
            ("BOT_DEFAULT_AGENT", settings.default_agent),
            ("BOT_REVIEW_AGENT", settings.review_agent),
        )
        if catalog.get(name) is None
    ]
    if missing:
        print(
            f"Not loaded: {', '.join(missing)}. Name an agent listed above, or add its file.",
            file=sys.stderr,
        )
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


def find_manifest(given: Path | None) -> Path | None:
    """`--manifest` when given; else manifest.yml in the current folder, else the repository's
    (the folder above the `bot` package); None when there is none."""
    if given is not None:
        return given
    for candidate in (Path("manifest.yml"), REPO_ROOT / "manifest.yml"):
        if candidate.is_file():
            return candidate
    return None


def check_command(
    settings: Settings,
    http: bool,
    manifest: Path | None,
    setting_problems: Sequence[Problem] = (),
    offline: bool = False,
) -> int:
    from bot.models import max_tokens_for
    from bot.slack.manifest import manifest_problems

    unusable = [
        f"{p.variable} {p.message}. {p.fix}" for p in [*setting_problems, *data_dir_problems(settings.data_dir)]
    ]
    problems: list[str] = [str(p) for p in settings.problems(slack=True, socket_mode=not http, http=http)]
    catalog, agent_problems = _usable_catalog(settings)
    problems += agent_problems
    manifest_path = find_manifest(manifest)
    if manifest_path is None:
        print(
            "warning: no manifest.yml here or in the repository, so the Slack app's manifest was not checked "
            "(the bot runs without it; pass --manifest PATH to check yours)"
        )
    else:
        mode: Literal["socket", "http"] = "http" if http else "socket"
        problems += [f"{manifest_path}: {p}" for p in manifest_problems(manifest_path, mode)]
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
    everything = [*unusable, *problems]
    if everything:
        _print_problems(
            everything,
            f"{len(everything)} problem(s) stop the bot from running in {'HTTP' if http else 'Socket'} mode:",
        )
        return 2 if unusable else 1
    verified = "the tokens were not verified (--offline)"
    if not offline:  # the settings are complete: ask Slack and Anthropic whether they take the tokens
        rejected, unverified = asyncio.run(_verify_tokens(settings, socket_mode=not http))
        for warning in unverified:
            print(f"warning: {warning}")
        if rejected:
            _print_problems(rejected, f"{len(rejected)} token(s) were rejected:")
            return 2
        verified = "some tokens could not be verified (see the warnings)" if unverified else "the tokens are accepted"
    checked = f" and {manifest_path}" if manifest_path is not None else ""
    print(f"All good: settings, {len(catalog.agents)} agent(s){checked} are ready; {verified}.")
    return 0


async def _verify_tokens(settings: Settings, socket_mode: bool) -> tuple[list[str], list[str]]:
    """Slack's auth.test (SLACK_BOT_TOKEN), apps.connections.open (SLACK_APP_TOKEN, Socket Mode)
    and Anthropic's models list (ANTHROPIC_API_KEY), at once: (rejections, warnings), each
    rejection naming the token and where to get a new one; a service not reached is a warning."""
    import anthropic
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.errors import TokenRejected
    from bot.slack.tokens_check import CHECK_TIMEOUT_S, check_app_token, check_bot_token, describe
    from bot.wiring import anthropic_client

    async def slack(variable: str, check: Awaitable[None]) -> tuple[str | None, str | None]:
        try:
            await check
        except TokenRejected as rejected:
            return str(rejected), None
        except Exception as error:  # noqa: BLE001 - unreachable, timed out, 5xx…: not the token's fault
            return None, f"could not check {variable} with Slack ({describe(error)}); is SLACK_API_URL reachable?"
        return None, None

    async def claude() -> tuple[str | None, str | None]:
        fix = "create a key at console.anthropic.com -> API keys, then set ANTHROPIC_API_KEY in .env"
        async with anthropic_client(settings, timeout=CHECK_TIMEOUT_S) as client:
            try:
                await client.models.list(limit=1)
            except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as error:
                return f"Anthropic rejected ANTHROPIC_API_KEY ({error.status_code}); {fix}", None
            except anthropic.APIConnectionError as error:
                return None, f"could not reach Anthropic ({type(error).__name__}: {error}) to check ANTHROPIC_API_KEY"
            except anthropic.APIStatusError as error:
                return None, f"could not check ANTHROPIC_API_KEY: Anthropic answered {error.status_code}"
        return None, None

    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    checks = [slack("SLACK_BOT_TOKEN", check_bot_token(client))]
    if socket_mode and settings.slack_app_token:
        checks.append(slack("SLACK_APP_TOKEN", check_app_token(client, settings.slack_app_token)))
    outcomes = await asyncio.gather(*checks, claude())
    return [r for r, _ in outcomes if r], [w for _, w in outcomes if w]


def redact_command(path: Path | None) -> int:
    from bot.redact import redact

    text = sys.stdin.read() if path is None else path.read_text(encoding="utf-8", errors="replace")
    result = redact(text)
    sys.stdout.write(result.text)
    sys.stdout.flush()
    print(result.summary() or "Nothing to redact.", file=sys.stderr)
    for kind, count in result.counts.items():  # in KINDS order already
        print(f"  {count:>4}  {kind}", file=sys.stderr)
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
    from bot.store import Store
    from bot.usage import Requester
    from bot.wiring import create_answerer

    sink = TerminalSink()
    store = Store.in_data_dir(settings.data_dir, settings.retention_days)  # its calls are in `usage` too
    answerer = create_answerer(settings, catalog, store=store)
    request_id = new_request_id()

    async def conversation() -> list[Turn]:
        return [Turn("user", redact(text).text)]  # secrets never leave, from the terminal either

    async def ask_once() -> Answer | None:
        try:
            return await answerer.answer(
                request_id, conversation, sink, TERMINAL_SURFACE, requester=Requester(CLI_USER, CLI_USER, request_id)
            )
        finally:
            await answerer.claude.aclose()
            store.close()

    answer = asyncio.run(ask_once())
    return 0 if answer is not None else 1


CLI_USER = "cli"  # who `ask`'s calls are for, in the usage ledger (and the daily allowance)


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
    from bot.errors import OpsPortUnavailable, PortUnavailable, StoreInUse, TokenRejected

    try:
        asyncio.run(_serve(settings, catalog, http, host, port, ops_port))
    except (StoreInUse, OpsPortUnavailable, PortUnavailable, TokenRejected) as error:
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
