"""/backend-review, through the running app: what the channel, the thread, the asker and
Claude each see."""

from __future__ import annotations

import json

import pytest
from conftest import start_bot
from fakes.claude_api import Reply
from fakes.github_api import GITHUB_TOKEN, Change

CODE = "def take(queue):\n    job = queue[0]\n    queue.remove(job)\n    return job"


def review_post(bot, channel: str = "C1"):
    """The bot's top-level post announcing the review."""
    (post,) = [m for m in bot.slack.top_level(channel) if m.bot_id]
    return post


def sent_text(bot, n: int = -1) -> str:
    return "\n".join(m["content"] for m in bot.claude.requests[n]["messages"])


async def test_snippet_with_a_question_is_acked_at_once_posted_and_reviewed_in_the_thread(bot):
    bot.claude.then(Reply(chunks=("*Needs rework*\n\n🔴 **Critical** — race in `take`",), first_delay=1.0))
    shown, ack_seconds = await bot.review(f"is this safe under concurrency?\n```python\n{CODE}\n```")
    assert ack_seconds < 0.5 and shown == ""
    await bot.idle()
    post = review_post(bot)
    assert post.markdown == "<@UALICE> asked for a review of snippet *python, 4 lines*"
    (review,) = bot.slack.thread("C1", post.ts)
    assert review.markdown.startswith("*Needs rework*")
    request = bot.claude.requests[0]["messages"]
    assert request[0]["role"] == "user" and request[0]["content"].startswith("Alice: Please review this code")
    text = request[0]["content"]
    assert "is this safe under concurrency?" in text and f"```python\n{CODE}\n```" in text
    for shape in (
        "verdict",
        "🔴 **Critical**",
        "🟠 **Major**",
        "🟡 **Minor**",
        "at most 7",
        "No significant issues found.",
        "linter",
    ):
        assert shape in text


async def test_unfenced_code_after_a_question_is_split_from_it(bot):
    await bot.review(f"Is this ok for 1k rps?\n{CODE}")
    await bot.idle()
    text = sent_text(bot)
    assert "The person asking adds: Is this ok for 1k rps?" in text
    assert f"```python\n{CODE}\n```" in text


async def test_follow_ups_in_the_review_thread_keep_the_code_in_context(bot):
    await bot.review(f"```python\n{CODE}\n```")
    await bot.idle()
    post = review_post(bot)
    await bot.answered("C1", await bot.say("how would you fix the race?", thread_ts=post.ts))
    messages = bot.claude.requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert CODE in messages[0]["content"]
    assert messages[2]["content"] == "Alice: how would you fix the race?"


async def test_nothing_or_help_shows_usage_to_the_asker_alone(bot):
    for text in ("", "help"):
        shown, _ = await bot.review(text)
        body = json.loads(shown)
        assert body["response_type"] == "ephemeral" and "/backend-review" in body["text"]
        assert "github.com" in body["text"]
    await bot.idle()
    assert bot.claude.requests == [] and not bot.slack.messages


async def test_a_pull_request_is_fetched_and_reviewed_with_its_title_and_description(bot, fake_github):
    diff = (
        "diff --git a/api/cache.py b/api/cache.py\n--- a/api/cache.py\n+++ b/api/cache.py\n"
        "@@ -1,2 +1,3 @@\n import redis\n+CACHE = redis.Redis()\n def get(k):\n"
    )
    fake_github.pulls[("acme", "api", "42")] = Change("Add a cache", "Cuts API costs by 40%.", diff)
    await bot.review("https://github.com/acme/api/pull/42 focus on failure modes")
    await bot.idle()
    assert review_post(bot).markdown == "<@UALICE> asked for a review of pull request *acme/api#42: Add a cache*"
    text = sent_text(bot)
    assert "Please review pull request acme/api#42: Add a cache" in text
    assert "Cuts API costs by 40%." in text and "+CACHE = redis.Redis()" in text
    assert "focus on failure modes" in text
    assert {r["accept"] for r in fake_github.requests} == {"application/vnd.github+json", "application/vnd.github.diff"}
    assert all(r["authorization"] is None for r in fake_github.requests)  # public: no token needed


async def test_a_commit_url_is_reviewed_too(bot, fake_github):
    fake_github.commits[("acme", "api", "abc1234")] = Change("Fix retry loop", "", "diff --git a/x b/x\n")
    await bot.review("https://github.com/acme/api/commit/abc1234")
    await bot.idle()
    assert "commit *acme/api@abc1234: Fix retry loop*" in review_post(bot).markdown


async def test_private_pull_request_needs_the_token_and_says_so_without_it(
    settings, fake_slack, fake_claude, fake_github
):
    fake_github.pulls[("acme", "secret", "1")] = Change("Private", "", "diff --git a/x b/x\n", private=True)
    bot, server = await start_bot(settings, fake_slack, fake_claude)
    try:
        await bot.review("https://github.com/acme/secret/pull/1")
        await bot.idle()
        (response,) = fake_slack.responses
        assert response["response_type"] == "ephemeral"
        assert "couldn't find acme/secret#1" in response["text"] and "GITHUB_TOKEN" in response["text"]
        assert fake_claude.requests == [] and not fake_slack.messages
    finally:
        await server.stop()
    from dataclasses import replace

    bot, server = await start_bot(replace(settings, github_token=GITHUB_TOKEN), fake_slack, fake_claude)
    try:
        await bot.review("https://github.com/acme/secret/pull/1")
        await bot.idle()
        assert fake_github.requests[-1]["authorization"] == f"Bearer {GITHUB_TOKEN}"
        assert len(fake_claude.requests) == 1
    finally:
        await server.stop()


async def test_github_unreachable_is_a_clear_message_to_the_asker(bot, fake_github):
    await fake_github.stop()
    await bot.review("https://github.com/acme/api/pull/7")
    await bot.idle()
    (response,) = bot.slack.responses
    assert "couldn't reach GitHub" in response["text"]
    assert not bot.slack.messages and bot.claude.requests == []


async def test_an_oversized_diff_keeps_whole_hunks_and_names_what_was_left_out(bot, fake_github):
    def file_diff(name: str, added: int, removed: int = 0) -> str:
        lines = "".join(f"+line {n} of {name}\n" for n in range(added)) + "".join(f"-old {n}\n" for n in range(removed))
        return f"diff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n@@ -1,{removed} +1,{added} @@\n{lines}"

    diff = (
        file_diff("src/core.py", 2000)
        + file_diff("src/old.py", 0, 3000)
        + file_diff("package-lock.json", 3000)
        + file_diff("tests/test_core.py", 1500)
    )
    fake_github.pulls[("acme", "api", "9")] = Change("Big change", "", diff)
    await bot.review("https://github.com/acme/api/pull/9")
    await bot.idle()
    text = sent_text(bot)
    assert "+line 1999 of src/core.py" in text  # the most relevant hunk, whole
    assert "-old 1" not in text  # deletion-only hunks go first
    assert "wholly or in part: src/old.py, package-lock.json." in text


async def test_a_slack_file_link_is_read_and_reviewed(bot):
    file = bot.slack.upload("worker.py", CODE)
    bot.slack.post_user_message("C1", "here's the worker", files=[file])
    await bot.review(f"https://fake.slack.com/files/UALICE/{file['id']}/worker.py")
    await bot.idle()
    assert review_post(bot).markdown == "<@UALICE> asked for a review of file *worker.py (4 lines)*"
    assert f"```python\n{CODE}\n```" in sent_text(bot)


async def test_binary_or_missing_files_are_explained_to_the_asker(bot):
    image = bot.slack.upload("diagram.png", b"\x89PNG", filetype="png", mimetype="image/png")
    bot.slack.post_user_message("C1", "diagram", files=[image])
    await bot.review(f"https://fake.slack.com/files/UALICE/{image['id']}/diagram.png")
    await bot.review("https://fake.slack.com/files/UALICE/F9999/gone.py")
    await bot.idle()
    first, second = bot.slack.responses
    assert "can't review diagram.png: png file, not included" in first["text"]
    assert "not found" in second["text"]
    assert bot.claude.requests == []


async def test_in_a_channel_without_the_bot_the_asker_is_told_to_invite_it_and_gets_their_text_back(bot):
    bot.slack.refuse["chat.postMessage"] = "not_in_channel"
    await bot.review(f"check this\n```python\n{CODE}\n```", channel="C9")
    await bot.idle()
    (response,) = bot.slack.responses
    assert response["response_type"] == "ephemeral"
    assert "/invite @backend-engineer" in response["text"]
    assert CODE in response["text"]  # nothing lost: they can retry
    assert bot.claude.requests == []


async def test_in_a_dm_with_the_bot_it_just_works(bot):
    await bot.review(f"```python\n{CODE}\n```", channel="D1")
    await bot.idle()
    post = review_post(bot, channel="D1")
    assert len(bot.slack.thread("D1", post.ts)) == 1


async def test_a_mention_asking_for_a_review_with_a_file_goes_the_review_way(bot):
    file = bot.slack.upload("worker.py", CODE)
    ts, _ = await bot.mention("review this please", files=[file])
    await bot.idle()
    text = sent_text(bot)
    assert "Please review this code" in text and "🔴 **Critical**" in text and CODE in text
    assert len(bot.slack.thread("C1", ts)) == 1


async def test_a_mention_that_only_mentions_the_word_review_is_a_normal_question(bot):
    await bot.mention("how should we organise code review?")
    await bot.idle()
    assert "Please review" not in sent_text(bot)


async def test_secrets_in_reviewed_code_never_reach_claude_or_the_channel_and_the_asker_is_told(bot):
    key, secret = "AKIA" + "Q3EXAMPLE7KEYZ2X", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY9"
    code = (
        f'import boto3\nclient = boto3.client("s3", aws_access_key_id="{key}",\n    aws_secret_access_key="{secret}")'
    )
    await bot.review(f"```python\n{code}\n```")
    await bot.idle()
    text = sent_text(bot)
    assert key not in text and secret not in text
    assert "[REDACTED aws-access-key]" in text
    everything_in_slack = json.dumps([c.args for c in bot.slack.calls])
    assert key not in everything_in_slack and secret not in everything_in_slack
    (review,) = bot.slack.thread("C1", review_post(bot).ts)
    footer = " ".join(e["text"] for e in review.blocks[0]["elements"])
    assert "AWS access key" in footer and key not in footer


async def test_secrets_in_an_ordinary_mention_are_redacted_too(bot):
    token = "xoxb-" + "1234567890-1234567890123-" + "a" * 24
    await bot.mention(f"why does `SLACK_BOT_TOKEN={token}` fail?")
    await bot.idle()
    assert token not in json.dumps(bot.claude.requests)


async def test_code_starting_on_the_fence_line_keeps_its_first_line(bot):
    await bot.mention("review this ```def take(queue):\n    return queue.pop()```")
    await bot.idle()
    assert "def take(queue):\n    return queue.pop()" in sent_text(bot)


async def test_a_question_without_code_shows_usage_instead_of_a_review(bot):
    shown, _ = await bot.review("is this safe under concurrency?")
    assert json.loads(shown)["response_type"] == "ephemeral"
    await bot.idle()
    assert bot.claude.requests == [] and not bot.slack.messages


async def test_a_broken_github_answer_is_a_clear_message_not_silence(bot, fake_github):
    fake_github.pulls[("acme", "html", "1")] = Change("t", "", "", html=True)
    await bot.review("https://github.com/acme/html/pull/1")
    await bot.idle()
    (response,) = bot.slack.responses
    assert "Something went wrong on my side" in response["text"]


async def test_a_commit_inside_a_pull_request_url_reviews_that_commit(bot, fake_github):
    fake_github.commits[("acme", "api", "abcdef1")] = Change("One commit", "", "diff --git a/x b/x\n")
    await bot.review("https://github.com/acme/api/pull/4/commits/ABCDEF1")
    await bot.idle()
    assert "commit *acme/api@abcdef1: One commit*" in review_post(bot).markdown


def test_key_files_in_a_diff_are_left_out_whole_and_named():
    from bot.review import fit_diff

    diff = (
        "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n+x = 1\n"
        "diff --git a/deploy/key.pem b/deploy/key.pem\n--- a/deploy/key.pem\n+++ b/deploy/key.pem\n"
        "@@ -1 +1 @@\n+MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
    )
    kept, left_out = fit_diff(diff)
    assert "MIIEvQ" not in kept and "+x = 1" in kept
    assert left_out == ("deploy/key.pem",)


def test_a_leading_comment_stays_with_the_code():
    from bot.review import parse_review_text

    snippet = parse_review_text("# Takes the next job off the queue.\ndef take(q):\n    return q.pop()")
    assert snippet.code.startswith("# Takes the next job") and snippet.question == ""


async def test_a_pull_request_too_large_for_githubs_diff_is_rebuilt_from_its_files(bot, fake_github):
    files = "".join(
        f"diff --git a/src/m{n}.py b/src/m{n}.py\n--- a/src/m{n}.py\n+++ b/src/m{n}.py\n"
        f"@@ -1 +1,2 @@\n x\n+added in module {n}\n"
        for n in range(150)
    )
    fake_github.pulls[("acme", "api", "77")] = Change("Huge refactor", "", files, too_large=True)
    await bot.review("https://github.com/acme/api/pull/77")
    await bot.idle()
    text = sent_text(bot)
    assert "+added in module 0" in text and "+added in module 149" in text  # both pages of files
    assert any("/files?per_page=100&page=2" in r["path"] for r in fake_github.requests)


async def test_a_diff_github_refuses_with_422_is_rebuilt_and_files_without_a_patch_are_named_not_seen(bot, fake_github):
    diff = (
        "diff --git a/src/app.py b/src/app.py\n--- a/src/app.py\n+++ b/src/app.py\n@@ -1 +1,2 @@\n x\n+y = 1\n"
        "diff --git a/data/model.bin b/data/model.bin\n--- a/data/model.bin\n+++ b/data/model.bin\n"
        "@@ -1 +1 @@\n-a\n+b\n"
    )
    fake_github.pulls[("acme", "api", "78")] = Change(
        "Ship the model", "", diff, too_large=True, too_large_status=422, no_patch=("data/model.bin",)
    )
    await bot.review("https://github.com/acme/api/pull/78")
    await bot.idle()
    text = sent_text(bot)
    assert "+y = 1" in text
    assert "you cannot see them: data/model.bin. Name them in the review as not seen." in text
    post = review_post(bot)
    footer = " ".join(e["text"] for e in bot.slack.thread("C1", post.ts)[0].blocks[0]["elements"])
    assert "Not seen: GitHub sent no changes for `data/model.bin`" in footer


async def test_githubs_rate_limit_is_explained_with_when_it_lifts_and_nothing_is_posted(bot, fake_github):
    fake_github.pulls[("acme", "api", "79")] = Change("Fix", "", "diff --git a/x b/x\n")
    fake_github.remaining = 0
    await bot.review("https://github.com/acme/api/pull/79")
    await bot.idle()
    (response,) = bot.slack.responses
    assert response["response_type"] == "ephemeral"
    assert "GitHub's rate limit for this bot is used up" in response["text"] and "UTC (in 30 min)" in response["text"]
    assert bot.claude.requests == [] and not any(m.bot_id for m in bot.slack.messages)


async def test_a_short_secondary_rate_limit_is_waited_out(bot, fake_github):
    fake_github.pulls[("acme", "api", "80")] = Change(
        "Fix", "", "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    )
    fake_github.retry_after = [1]
    await bot.review("https://github.com/acme/api/pull/80")
    await bot.idle()
    assert "+b" in sent_text(bot) and bot.slack.responses == []


async def test_someone_elses_file_from_a_dm_with_the_bot_is_never_reviewed_into_a_channel(bot):
    secret = bot.slack.upload("payroll.py", "SALARIES = {'alice': 1}\n")
    bot.slack.post_user_message("DALICE", "my private file", files=[secret], user="UALICE")  # Alice's DM with the bot
    link = f"https://fake.slack.com/files/UALICE/{secret['id']}/payroll.py"
    await bot.review(link, channel="C1", user="UBOB")  # Bob, in #general
    await bot.review(link, channel="C1", user="UALICE")  # Alice herself, but in a channel where it is not shared
    await bot.idle()
    for response in bot.slack.responses:
        assert response["response_type"] == "ephemeral"
        assert "I can only review files shared in this conversation" in response["text"]
        assert "payroll" not in response["text"]
    assert len(bot.slack.responses) == 2
    assert bot.claude.requests == [] and not any(m.bot_id for m in bot.slack.messages)


async def test_the_owner_may_review_their_own_file_in_their_dm_with_the_bot(bot):
    mine = bot.slack.upload("worker.py", CODE)
    bot.slack.post_user_message("C7", "shared elsewhere", files=[mine], user="UALICE")
    await bot.review(f"https://fake.slack.com/files/UALICE/{mine['id']}/worker.py", channel="DALICE", user="UALICE")
    await bot.idle()
    assert CODE in sent_text(bot)


async def test_a_file_linked_in_a_mention_is_read_only_if_shared_in_that_conversation(bot):
    secret = bot.slack.upload("payroll.py", "SALARIES = {'alice': 1}\n")
    bot.slack.post_user_message("GHR", "hr only", files=[secret], user="UCAROL")
    linked = {"id": secret["id"], "file_access": "check_file_info"}  # as Slack sends a file linked, not uploaded
    await bot.mention("what does this do?", files=[linked], user="UBOB")
    await bot.idle()
    text = sent_text(bot)
    assert "SALARIES" not in text and "payroll" not in text
    assert "[attached file a file: not shared in this conversation]" in text


async def test_pull_requests_only_from_the_repositories_bot_github_repos_names(
    settings, fake_slack, fake_claude, fake_github
):
    from dataclasses import replace

    from conftest import start_bot

    fake_github.pulls[("acme", "api", "5")] = Change(
        "Fix", "", "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    )
    fake_github.pulls[("other", "secret", "1")] = Change("Internal", "", "diff --git a/y b/y\n")
    bot, server = await start_bot(replace(settings, github_repos=("ACME/*",)), fake_slack, fake_claude)
    try:
        await bot.review("https://github.com/other/secret/pull/1")
        await bot.review("https://github.com/acme/api/pull/5")
        await bot.idle()
        (refused,) = fake_slack.responses
        assert "other/secret is not one of them (BOT_GITHUB_REPOS)" in refused["text"]
        assert [r["path"] for r in fake_github.requests if "secret" in r["path"]] == []  # never fetched
        assert "+b" in sent_text(bot)
    finally:
        await server.stop()


async def test_a_replayed_signed_command_runs_once(bot):
    from bot.playground.slack_emulator import run_command

    await run_command(bot.slack, bot.events_url, f"```python\n{CODE}\n```", times=3)
    await bot.idle()
    assert len([m for m in bot.slack.top_level("C1") if m.bot_id]) == 1 and len(bot.claude.requests) == 1


@pytest.mark.parametrize(
    "link",
    ["https://evil.example/acme/api/pull/7", "https://github.com/../api/pull/7", "https://github.com/acme/../pull/7"],
)
async def test_only_links_to_github_itself_naming_a_real_repository_are_fetched(bot, fake_github, link):
    await bot.review(link)
    await bot.idle()
    (response,) = bot.slack.responses
    assert response["response_type"] == "ephemeral" and fake_github.requests == []
    assert (
        "only fetch pull requests and commits from 127.0.0.1 or github.com" in response["text"]
        or "does not name a GitHub repository" in response["text"]
    )


async def test_a_redirect_to_another_host_is_not_followed(bot, fake_github):
    fake_github.redirect_to = "http://127.0.0.1:9/steal"
    await bot.review("https://github.com/acme/api/pull/8")
    await bot.idle()
    (response,) = bot.slack.responses
    assert "GitHub sent me elsewhere" in response["text"] and bot.claude.requests == []
