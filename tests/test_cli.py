"""The command line, run as an operator would: a real process, real environment. Commands
that neither log nor run an event loop (check, agents, redact FILE) are also run in this
process (`main()`), where one real process per command shape already shows the rest."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from fakes.claude_api import Failure, Reply

from bot.cli import main
from bot.playground.slack_emulator import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, deliver, event_callback, mention

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = str(ROOT / "manifest.yml")


def clean_env(**values: str) -> dict[str, str]:
    """The machine's environment minus every setting of ours, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ANTHROPIC_", "BOT_", "GITHUB_"))}
    return {**env, **values}


async def start_cli(*args: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    """`python -m bot ARGS` as its own process, its output piped (a bot runs until signalled)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await start_cli(*args, env=env, cwd=cwd)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def run_in_process(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """`main(args)` here, with `env` as the whole environment and `cwd` as the working
    directory for the call (both put back after, `.env` values included)."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    return code, out.getvalue(), err.getvalue()


HEAVY = ("anthropic", "slack_bolt", "slack_sdk", "aiohttp", "httpx2", "prometheus_client", "jsonschema")


async def test_help_and_the_settings_load_no_sdk_so_the_command_answers_at_once(tmp_path):
    """`backend-engineer --help` took 1.8 s when importing the settings pulled in the anthropic
    SDK; the SDKs are imported by the commands that use them."""
    probe = (
        "import contextlib, io, sys\n"
        "import bot.config\n"
        "from bot.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "assert 'backend-engineer' in out.getvalue()\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, env=clean_env(), cwd=tmp_path, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0 and out.decode().strip() == "[]"


async def test_check_names_every_missing_variable_and_how_to_fix_it(tmp_path):
    code, _out, err = run_in_process("check", "--offline", "--manifest", MANIFEST, env=clean_env(), cwd=tmp_path)
    assert code == 1
    for variable in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ANTHROPIC_API_KEY"):
        assert variable in err
    assert "OAuth & Permissions" in err and "console.anthropic.com" in err


async def test_check_passes_with_settings_agents_and_manifest_in_order(tmp_path):
    env = clean_env(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1", ANTHROPIC_API_KEY="sk-ant-1")
    code, out, err = await run_cli("check", "--offline", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 0, err
    assert "backend-senior-engineer" in out and "All good" in out


def online_env(fake_slack, fake_claude, **tokens: str) -> dict[str, str]:
    """Every setting `check` needs, the services pointed at the fakes; `tokens` override the good ones."""
    good = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "ANTHROPIC_API_KEY": "sk-ant-good"}
    fake_claude.api_keys = {"sk-ant-good"}
    return clean_env(SLACK_API_URL=fake_slack.url, ANTHROPIC_BASE_URL=fake_claude.url, **{**good, **tokens})


async def test_check_names_each_made_up_token_it_was_refused_and_where_to_get_a_new_one(
    fake_slack, fake_claude, tmp_path
):
    made_up = {"SLACK_BOT_TOKEN": "xoxb-made-up", "SLACK_APP_TOKEN": "xapp-made-up", "ANTHROPIC_API_KEY": "sk-ant-x"}
    env = online_env(fake_slack, fake_claude, **made_up)
    code, out, err = await run_cli("check", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 2 and "All good" not in out
    assert "3 token(s) were rejected" in err
    assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in err and "OAuth & Permissions" in err
    assert "Slack rejected SLACK_APP_TOKEN (invalid_auth)" in err and "App-Level Tokens" in err
    assert "Anthropic rejected ANTHROPIC_API_KEY (401); create a key at console.anthropic.com -> API keys" in err
    assert sorted(fake_slack.methods()) == ["apps.connections.open", "auth.test"]
    assert fake_claude.model_list_calls == [{"limit": "1"}]
    for value in made_up.values():
        assert value not in out + err  # names the setting, never prints the secret
    # One bad token: only that one is named.
    code, _, err = await run_cli(
        "check",
        "--manifest",
        MANIFEST,
        env=online_env(fake_slack, fake_claude, SLACK_APP_TOKEN="xapp-no"),
        cwd=tmp_path,
    )
    assert code == 2 and "1 token(s) were rejected" in err and "SLACK_APP_TOKEN" in err
    assert "SLACK_BOT_TOKEN" not in err and "ANTHROPIC_API_KEY" not in err


async def test_check_with_tokens_slack_and_anthropic_accept_says_all_good(fake_slack, fake_claude, tmp_path):
    env = online_env(fake_slack, fake_claude)
    code, out, err = await run_cli("check", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 0, err
    assert "All good" in out and "the tokens are accepted" in out
    assert sorted(fake_slack.methods()) == ["apps.connections.open", "auth.test"]
    assert len(fake_claude.model_list_calls) == 1


async def test_check_through_a_gateway_without_a_key_asks_the_gateway_as_the_bot_would(
    fake_slack, fake_claude, tmp_path
):
    env = online_env(fake_slack, fake_claude)
    env.pop("ANTHROPIC_API_KEY")
    fake_claude.api_keys = None  # a gateway that holds the key itself
    code, out, err = await run_cli("check", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 0, err + out
    assert len(fake_claude.model_list_calls) == 1


async def test_check_http_mode_does_not_ask_for_a_socket_mode_connection(fake_slack, fake_claude, tmp_path):
    env = online_env(fake_slack, fake_claude, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    env.pop("SLACK_APP_TOKEN")
    manifest = tmp_path / "manifest.yml"
    import yaml

    data = yaml.safe_load(Path(MANIFEST).read_text())
    data["settings"]["socket_mode_enabled"] = False
    url = "https://bot.example.com/slack/events"
    data["settings"]["event_subscriptions"]["request_url"] = url
    data["settings"]["interactivity"]["request_url"] = url
    data["features"]["slash_commands"][0]["url"] = url
    manifest.write_text(yaml.safe_dump(data))
    code, _, err = await run_cli("check", "--http", "--manifest", str(manifest), env=env, cwd=tmp_path)
    assert code == 0, err
    assert fake_slack.methods() == ["auth.test"]


async def test_check_says_so_when_anthropic_cannot_be_reached_without_calling_the_key_rejected(
    fake_slack, fake_claude, tmp_path
):
    env = {**online_env(fake_slack, fake_claude), "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    code, out, err = await run_cli("check", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 0, err
    assert "warning: could not reach Anthropic (" in out and "rejected" not in out + err
    assert "some tokens could not be verified" in out


async def test_check_offline_makes_no_calls(fake_slack, fake_claude, tmp_path):
    made_up = {"SLACK_BOT_TOKEN": "xoxb-made-up", "SLACK_APP_TOKEN": "xapp-made-up", "ANTHROPIC_API_KEY": "sk-ant-x"}
    env = online_env(fake_slack, fake_claude, **made_up)
    code, out, err = run_in_process("check", "--offline", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 0, err
    assert "the tokens were not verified (--offline)" in out
    assert fake_slack.calls == [] and fake_claude.model_list_calls == []


async def test_check_http_mode_needs_the_signing_secret_not_the_app_token(tmp_path):
    env = clean_env(SLACK_BOT_TOKEN="xoxb-1", ANTHROPIC_API_KEY="sk-ant-1")
    code, _, err = run_in_process("check", "--offline", "--http", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 1
    assert "SLACK_SIGNING_SECRET" in err and "SLACK_APP_TOKEN" not in err


async def test_check_reports_broken_agent_files_and_a_broken_manifest(tmp_path):
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "broken.md").write_text("no front matter here")
    (tmp_path / "manifest.yml").write_text("display_information: {}\n")
    env = clean_env(
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_APP_TOKEN="xapp-1",
        ANTHROPIC_API_KEY="sk-ant-1",
        BOT_AGENTS_DIR=str(tmp_path / "agents"),
    )
    code, _, err = run_in_process("check", "--offline", env=env, cwd=tmp_path)
    assert code == 1
    assert "broken.md" in err and "no front matter" in err
    assert "BOT_DEFAULT_AGENT" in err
    assert "manifest.yml" in err


async def test_settings_come_from_a_dotenv_file_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_APP_TOKEN=not-an-app-token\nANTHROPIC_API_KEY=sk-ant-file\n"
    )
    env = clean_env(SLACK_APP_TOKEN="xapp-from-env")
    code, _, err = run_in_process("check", "--offline", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 0, err
    assert "SLACK_BOT_TOKEN" not in os.environ  # the file's values stayed in that call


async def test_ask_streams_an_answer_to_the_terminal(fake_claude, tmp_path):
    fake_claude.then(Reply(chunks=("Use ", "a queue.")))
    env = clean_env(ANTHROPIC_API_KEY="sk-ant-test", ANTHROPIC_BASE_URL=fake_claude.url)
    code, out, err = await run_cli("ask", "How", "do I absorb spikes?", env=env, cwd=tmp_path)
    assert code == 0, err
    assert out.strip() == "Use a queue."
    assert "backend-senior-engineer" in err and "claude-sonnet-5-5" in err
    assert fake_claude.requests[0]["messages"] == [{"role": "user", "content": "How do I absorb spikes?"}]


async def test_ask_when_claude_is_down_says_so_without_a_traceback(fake_claude, tmp_path):
    fake_claude.down = Failure()
    env = clean_env(ANTHROPIC_API_KEY="sk-ant-test", ANTHROPIC_BASE_URL=fake_claude.url, BOT_ANSWER_DEADLINE_S="1")
    code, _out, err = await run_cli("ask", "hi", env=env, cwd=tmp_path)
    assert code == 1
    assert "Claude is overloaded" in err and "Traceback" not in err


async def test_ask_without_an_api_key_says_what_is_missing(tmp_path):
    code, _, err = await run_cli("ask", "hi", env=clean_env(), cwd=tmp_path)
    assert code == 2 and "ANTHROPIC_API_KEY" in err


async def test_run_without_slack_tokens_says_what_is_missing_and_how_to_get_it(tmp_path):
    code, _, err = await run_cli("run", env=clean_env(), cwd=tmp_path)
    assert code == 2
    assert "SLACK_BOT_TOKEN" in err and "SLACK_APP_TOKEN" in err and "README" in err


async def wait_until_healthy(base: str, timeout: float = 20.0) -> None:
    """Until the bot process answers /healthz."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            assert time.monotonic() < deadline, "the bot never came up"
            await asyncio.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_run_http_answers_a_mention_and_stops_cleanly_on_sigterm(fake_slack, fake_claude, tmp_path):
    port = free_port()
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        ANTHROPIC_API_KEY="sk-ant-test",
        ANTHROPIC_BASE_URL=fake_claude.url,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--http",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(base)
        question = fake_slack.post_user_message("C1", "<@UBOT> hello")
        response = await deliver(base + "/slack/events", event_callback(mention("C1", question.ts, "hello")))
        assert response.status == 200
        deadline = time.monotonic() + 10
        while not (fake_slack.thread("C1", question.ts) and not fake_slack.thread("C1", question.ts)[0].streaming):
            assert time.monotonic() < deadline, "no answer in the thread"
            await asyncio.sleep(0.05)
        assert fake_slack.thread("C1", question.ts)[0].markdown == "Hello from **Claude**."
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=40)
    log = err.decode()
    assert process.returncode == 0, log
    assert '"event": "answer"' in log and '"event": "event"' in log
    for secret in (BOT_TOKEN, "sk-ant-test", SIGNING_SECRET):
        assert secret not in log


async def test_agents_lists_loaded_agents_then_skipped_files(tmp_path):
    fixtures = ROOT / "tests" / "agent_fixtures"
    code, out, _ = run_in_process("agents", env=clean_env(BOT_AGENTS_DIR=str(fixtures)), cwd=tmp_path)
    assert code == 0
    assert "sql-tuner  [claude-haiku-5-5, 🟢 green]" in out and "Tunes slow SQL queries and indexes." in out
    assert "legacy-helper" in out and "gpt-4o" in out  # the unknown model's warning
    code, out, _err = run_in_process("agents", env=clean_env(BOT_AGENTS_DIR=str(fixtures / "unusable")), cwd=tmp_path)
    assert code == 1 and "Skipped 5 file(s)" in out and "not UTF-8 text" in out


async def test_agents_fails_when_the_default_agent_is_not_loaded(tmp_path):
    fixtures = ROOT / "tests" / "agent_fixtures"
    env = clean_env(BOT_AGENTS_DIR=str(fixtures), BOT_DEFAULT_AGENT="sre-oncall")
    code, out, err = run_in_process("agents", env=env, cwd=tmp_path)
    assert code == 1 and "sql-tuner" in out
    assert "Not loaded: BOT_DEFAULT_AGENT=sre-oncall" in err


def test_an_oversize_agent_file_or_a_link_loop_is_skipped_with_a_plain_reason(tmp_path):
    from bot.agents import ModelChoices, load_agents

    (tmp_path / "huge.md").write_text("---\nname: huge\ndescription: d\n---\n" + "x" * 14_000_000)
    (tmp_path / "loop.md").symlink_to(tmp_path / "loop.md")
    catalog = load_agents(tmp_path, ModelChoices("claude-sonnet-5-5", {}))
    reasons = {s.source.name: s.reason for s in catalog.skipped}
    assert reasons["huge.md"].startswith("13,671 KB: agent files over 200 KB are skipped")
    assert reasons["loop.md"] == "cannot be read: too many levels of symbolic links"
    assert not catalog.agents


async def test_ask_prints_only_the_answer_takes_a_gateway_without_a_key_and_is_in_the_ledger(fake_claude, tmp_path):
    data = tmp_path / "data"
    env = clean_env(ANTHROPIC_BASE_URL=fake_claude.url, BOT_ROUTING="off", BOT_DATA_DIR=str(data))  # no key
    code, out, err = await run_cli("ask", "how should I shard?", env=env, cwd=tmp_path)
    assert code == 0, err
    assert out.strip() == "Hello from **Claude**."
    assert not [line for line in err.splitlines() if line.startswith("{")]  # no log lines unless -v
    code, out, err = await run_cli("ask", "-v", "and now?", env=env, cwd=tmp_path)
    assert code == 0 and any(line.startswith("{") for line in err.splitlines())
    code, out, _ = await run_cli("usage", "--days", "1", env=env, cwd=tmp_path)
    assert code == 0 and "cli" in out.split("by channel")[0]


async def test_ask_redacts_secrets_before_claude_sees_them(fake_claude, tmp_path):
    env = clean_env(ANTHROPIC_API_KEY="sk-ant-test", ANTHROPIC_BASE_URL=fake_claude.url, BOT_ROUTING="off")
    key = "AKIA" + "Q3EXAMPLE7KEYZ2X"
    code, _, err = await run_cli("ask", f"is {key} safe to commit?", env=env, cwd=tmp_path)
    assert code == 0, err
    assert key not in json.dumps(fake_claude.requests)


async def test_start_without_slack_opens_the_playground_and_stops_on_ctrl_c(tmp_path):
    """`make run` on a fresh machine: nothing configured, and the first run still shows the bot."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "start",
        "--port",
        str(port),
        env=clean_env(),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        said = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        said += (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert "No Slack tokens are set" in said and "playground" in said
        assert f"open http://127.0.0.1:{port}/" in said and "dry run" in said
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/") as page:
            assert page.status == 200 and "backend-engineer playground" in await page.text()
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.communicate(), timeout=40)
    assert process.returncode == 0


async def test_start_with_part_of_slack_configured_says_what_is_missing(tmp_path):
    code, _, err = await run_cli("start", env=clean_env(SLACK_BOT_TOKEN="xoxb-1"), cwd=tmp_path)
    assert code == 2 and "SLACK_APP_TOKEN" in err and "ANTHROPIC_API_KEY" in err


async def test_playground_says_so_when_its_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await run_cli("playground", "--port", str(port), env=clean_env(), cwd=tmp_path)
    assert code == 2 and f"can't listen on 127.0.0.1:{port}" in err and "--port" in err


async def test_redact_prints_what_the_bot_would_send_and_the_counts_by_kind(tmp_path):
    secret = "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dcQm3RzT8vKp1Y"
    (tmp_path / "settings.py").write_text(f'STRIPE_KEY = "{secret}"\nDEBUG = True\n')
    code, out, err = run_in_process("redact", "settings.py", env=clean_env(), cwd=tmp_path)
    assert code == 0, err
    assert out == 'STRIPE_KEY = "[REDACTED stripe-key]"\nDEBUG = True\n'
    assert secret not in out + err
    assert "Redacted before sending: 1 Stripe key." in err and "stripe-key" in err

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "redact",
        env=clean_env(),
        cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out_b, err_b = await asyncio.wait_for(process.communicate(b"nothing secret here\n"), timeout=60)
    assert process.returncode == 0
    assert out_b.decode() == "nothing secret here\n" and "Nothing to redact." in err_b.decode()


# -- an operator's first hour: every problem at once, each with its fix ---------------------------

READY = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "ANTHROPIC_API_KEY": "sk-ant-1"}


async def test_check_rejects_an_unknown_log_level_with_its_fix(tmp_path):
    env = clean_env(**READY, BOT_LOG_LEVEL="LOUD", BOT_DATA_DIR=str(tmp_path / "data"))
    code, _, err = run_in_process("check", "--offline", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 2
    assert "BOT_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'" in err
    assert "Set BOT_LOG_LEVEL=INFO" in err


async def test_check_names_a_data_dir_that_is_a_file_and_usage_says_so_without_a_traceback(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    for data_dir, said in ((tmp_path / "afile", "is a file"), (tmp_path / "afile" / "sub", "cannot be created")):
        env = clean_env(**READY, BOT_DATA_DIR=str(data_dir))
        code, _, err = run_in_process("check", "--offline", "--manifest", MANIFEST, env=env, cwd=tmp_path)
        assert code == 2 and "BOT_DATA_DIR" in err and said in err, err
        code, _, err = run_in_process("usage", env=env, cwd=tmp_path)
        assert code == 2 and "BOT_DATA_DIR" in err and said in err and "Traceback" not in err


async def test_check_names_an_unwritable_data_dir(tmp_path):
    if os.geteuid() == 0:  # root writes anywhere; /proc refuses even root
        data_dir = Path("/proc/nope")
    else:
        data_dir = tmp_path / "locked"
        data_dir.mkdir(mode=0o500)
    env = clean_env(**READY, BOT_DATA_DIR=str(data_dir))
    code, _, err = run_in_process("check", "--offline", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 2 and "BOT_DATA_DIR" in err and "not writable" in err, err


async def test_several_bad_settings_in_dotenv_are_all_listed_at_once(tmp_path):
    (tmp_path / ".env").write_text(
        "BOT_LOG_LEVEL=LOUD\nBOT_MAX_CONCURRENCY=lots\nBOT_OPS_PORT=99999\nBOT_ROUTING=maybe\n"
        "BOT_ALLOWED_CHANNELS=general\n"
    )
    env = clean_env(**READY, BOT_DATA_DIR=str(tmp_path / "data"))
    code, _, err = run_in_process("check", "--offline", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 2
    for variable in ("BOT_LOG_LEVEL", "BOT_MAX_CONCURRENCY", "BOT_OPS_PORT", "BOT_ROUTING", "BOT_ALLOWED_CHANNELS"):
        assert variable in err
    code, _, err = run_in_process("agents", env=env, cwd=tmp_path)  # the other commands list them all too
    assert code == 2 and "5 settings can't be used" in err and "BOT_ALLOWED_CHANNELS" in err


async def test_allowed_channels_by_name_is_rejected_with_where_to_find_the_id(tmp_path):
    env = clean_env(**READY, BOT_ALLOWED_CHANNELS="C0123ABCD,general", BOT_DATA_DIR=str(tmp_path / "data"))
    code, _, err = run_in_process("check", "--offline", "--manifest", MANIFEST, env=env, cwd=tmp_path)
    assert code == 2
    assert "BOT_ALLOWED_CHANNELS" in err and "'general'" in err and "C0123ABCD'" not in err
    assert "About tab" in err


async def test_bad_port_and_days_are_refused_by_the_parser_with_a_clear_message(tmp_path):
    for args, said in (
        (["playground", "--port", "99999"], "99999 is not a port number"),
        (["run", "--port", "0"], "0 is not a port number"),
        (["usage", "--days", "-3"], "-3 days: give 1 or more"),
    ):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exited:
            main(args)
        assert exited.value.code == 2, args
        assert said in err.getvalue() and "Traceback" not in err.getvalue()


async def test_check_from_another_folder_finds_the_repositorys_manifest(tmp_path):
    env = clean_env(**READY, BOT_DATA_DIR=str(tmp_path / "data"))
    code, out, err = run_in_process("check", "--offline", env=env, cwd=tmp_path)  # no manifest.yml in tmp_path
    assert code == 0, err
    assert f"and {ROOT / 'manifest.yml'} are ready" in out


async def test_check_warns_when_there_is_no_manifest_at_all(tmp_path, monkeypatch):
    import bot.cli

    monkeypatch.setattr(bot.cli, "REPO_ROOT", tmp_path / "nowhere")
    env = clean_env(**READY, BOT_DATA_DIR=str(tmp_path / "data"))
    code, out, err = run_in_process("check", "--offline", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "warning: no manifest.yml" in out and "All good" in out


async def test_http_mode_check_needs_request_urls_in_the_manifest(tmp_path):
    import yaml

    data = yaml.safe_load((ROOT / "manifest.yml").read_text())
    data["settings"]["socket_mode_enabled"] = False
    (tmp_path / "manifest.yml").write_text(yaml.safe_dump(data))
    env = clean_env(**READY, SLACK_SIGNING_SECRET="s", BOT_DATA_DIR=str(tmp_path / "data"))
    code, _, err = run_in_process("check", "--offline", "--http", env=env, cwd=tmp_path)
    assert code == 1
    for key in ("event_subscriptions.request_url", "interactivity.request_url", "slash_commands[0].url"):
        assert key in err
    code, _, err = run_in_process("check", "--offline", env=env, cwd=tmp_path)  # Socket Mode needs socket_mode_enabled
    assert code == 1 and "socket_mode_enabled: must be true" in err
    url = "https://bot.example.com/slack/events"
    data["settings"]["event_subscriptions"]["request_url"] = url
    data["settings"]["interactivity"]["request_url"] = url
    data["features"]["slash_commands"][0]["url"] = url
    (tmp_path / "manifest.yml").write_text(yaml.safe_dump(data))
    code, _, err = run_in_process("check", "--offline", "--http", env=env, cwd=tmp_path)
    assert code == 0, err


def test_help_describes_every_command_and_option_and_version_prints_it(capsys):
    from bot.cli import build_parser

    parser = build_parser()
    with contextlib.suppress(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert name in top
        assert sub.description, name
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    with contextlib.suppress(SystemExit):
        main(["run", "--help"])
    assert "the port to listen on" in capsys.readouterr().out
    with contextlib.suppress(SystemExit):
        main(["--version"])
    assert re.fullmatch(r"backend-engineer \S+.*\n", capsys.readouterr().out)
