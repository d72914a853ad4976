"""The playground in a real browser (Debian's chromium, driven by Playwright), as a newcomer
uses it: ask in the channel, watch the answer stream into the thread, follow up, review code.

Set PLAYGROUND_SCREENSHOTS=docs to refresh the pictures README.md shows.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakes.claude_api import Reply
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.agents import load_catalog
from bot.config import Settings
from bot.playground.app import Playground

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
    "--no-first-run",
]

ANSWER = Reply(
    first_delay=1.5,
    delay=0.35,
    chunks=(
        (
            "**Use keyset (cursor) pagination.** `OFFSET 50000` makes Postgres read and throw away 50,000 rows "
            "on every request, so each page is slower than the last.\n\n"
        ),
        "Page on an indexed, unique sort key and hand the last row's key back as an opaque cursor:\n\n",
        (
            "```sql\nSELECT id, created_at, total\nFROM orders\nWHERE (created_at, id) < ($1, $2)\n"
            "ORDER BY created_at DESC, id DESC\nLIMIT 50;\n```\n\n"
        ),
        "- Index it: `CREATE INDEX ON orders (created_at DESC, id DESC);`\n",
        "- Return `next_cursor` (the last row's `created_at, id`, base64), not page numbers.\n",
        "- Every page now costs the same: one index range scan.\n",
    ),
)
FOLLOW_UP = Reply(
    delay=0.2,
    chunks=(
        "Keep a cursor for scrolling and add a *bounded* jump: ",
        "cap `OFFSET` at a few thousand rows, or precompute page boundaries nightly into a small table ",
        "(`page_no → created_at, id`) and start the keyset scan there.\n",
    ),
)
REVIEW = Reply(
    delay=0.2,
    chunks=(
        "*Verdict:* request changes.\n\n",
        (
            "🔴 **SQL injection**: `user_id` is formatted into the query. Pass it as a parameter: "
            '`db.execute("SELECT id, email FROM users WHERE id = %s", (user_id,))`.\n\n'
        ),
        "🟡 **`SELECT *`**: name the columns the caller needs.\n",
    ),
)
SNIPPET = (
    '```python\ndef get_user(db, user_id):\n    return db.execute(f"SELECT * FROM users WHERE id = {user_id}")\n```'
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"no {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield launched
        await launched.close()


async def open_page(browser: Browser, playground: Playground) -> Page:
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    await page.goto(playground.url)
    return page


async def send(page: Page, composer: str, text: str) -> None:
    await page.fill(composer, text)
    await page.keyboard.press("Enter")  # as in Slack: Enter sends


def screenshot_path(name: str, tmp_path: Path) -> Path:
    folder = os.environ.get("PLAYGROUND_SCREENSHOTS")
    return (Path(folder) if folder else tmp_path) / name


async def test_ask_follow_up_and_review_in_the_playground(browser, settings, fake_claude, tmp_path):
    fake_claude.then(ANSWER, FOLLOW_UP, REVIEW)
    playground = await Playground(settings, load_catalog(settings), port=0).start()
    try:
        page = await open_page(browser, playground)
        await expect(page.locator("#banner")).to_contain_text("Live: answers come from Claude")
        await expect(page.locator("#thread")).to_be_hidden()  # until there is a thread to show

        # A mention in the channel: the thread opens, the status shows, then the answer streams in.
        await send(
            page,
            "#channel-input",
            "@backend-engineer How should we paginate the orders API? Offset pagination gets slow past page 500.",
        )
        thread = page.locator("#thread")
        await expect(page.locator("#thread-status")).to_have_text("backend-engineer is thinking…")
        streaming = thread.locator(".message.bot.streaming .body")
        await expect(streaming).to_contain_text("Use keyset (cursor) pagination.")
        assert "Every page now costs the same" not in await streaming.inner_text()  # still arriving
        answer = thread.locator(".message.bot").first
        await expect(answer.locator(".feedback")).to_be_visible()
        await expect(answer.locator(".body pre code")).to_contain_text("ORDER BY created_at DESC, id DESC")
        await expect(answer.locator(".body li")).to_have_count(3)
        await expect(answer.locator(".footer").first).to_contain_text("backend-senior-engineer")
        await expect(page.locator("#thread-status")).to_have_text("")
        asked = json.dumps(fake_claude.requests[0]["messages"])
        assert "you: How should we paginate the orders API?" in asked

        # A reply in the thread needs no mention, and Claude is sent the thread so far.
        await send(page, "#thread-input", "What if users need to jump to page 200?")
        await expect(thread.locator(".message.bot")).to_have_count(2)
        await expect(thread.locator(".message.bot").nth(1).locator(".feedback")).to_be_visible()
        await expect(thread.locator(".message.bot").nth(1)).to_contain_text("bounded jump")
        follow_up = fake_claude.requests[1]["messages"]
        assert [m["role"] for m in follow_up] == ["user", "assistant", "user"]
        assert "Use keyset (cursor) pagination." in json.dumps(follow_up[1])

        helpful = answer.get_by_role("button", name="👍 Helpful")
        await helpful.click()
        await expect(helpful).to_have_class("chosen")
        await page.mouse.move(0, 0)  # no hover highlight in the picture
        await page.screenshot(path=str(screenshot_path("playground.png", tmp_path)))

        # /backend-review alone: how to use it, to you only.
        await send(page, "#channel-input", "/backend-review")
        usage = page.locator("#channel-messages .ephemeral")
        await expect(usage).to_contain_text("Only visible to you")
        await expect(usage.locator(".body strong code")).to_have_text("/backend-review")
        await expect(usage.locator("pre")).to_have_count(0)  # no stray code block in the help

        # /backend-review on a snippet (Shift+Enter after the command, as people do): a post in
        # the channel says who asked, and the review is in its thread.
        await send(page, "#channel-input", f"/backend-review\n{SNIPPET}")
        channel = page.locator("#channel-messages")
        await expect(channel.locator(".message.bot").last).to_contain_text("@you asked for a review of")
        await channel.locator(".message.bot").last.locator(".replies").click()
        await expect(thread.locator(".message.bot .feedback")).to_be_visible()
        await expect(thread.locator(".message.bot").last).to_contain_text("SQL injection")
        assert 'f\\"SELECT * FROM users WHERE id = {user_id}\\"' in json.dumps(fake_claude.requests[2]["messages"])
        await page.mouse.move(0, 0)
        await page.screenshot(path=str(screenshot_path("playground-review.png", tmp_path)))
    finally:
        await playground.stop()


async def test_the_dry_run_is_labelled_and_shows_what_would_be_sent(browser, tmp_path):
    settings = Settings(data_dir=tmp_path / "data")  # no Anthropic key: what a newcomer gets
    playground = await Playground(settings, load_catalog(settings), port=0).start()
    try:
        page = await open_page(browser, playground)
        banner = page.locator("#banner")
        await expect(banner).to_contain_text("Dry run: no ANTHROPIC_API_KEY, so nothing is sent to Claude.")
        await expect(banner).to_have_class("banner dry-run")
        await send(
            page,
            "#channel-input",
            "@backend-engineer Our deploy uses AKIAIOSFODNN7EXAMPLF, is a read replica enough for reporting queries?",
        )
        report = page.locator("#thread .message.bot").first
        await expect(report.locator(".feedback")).to_be_visible()
        await expect(report).to_contain_text("Dry run: nothing was sent to Claude.")
        await expect(report).to_contain_text("Redacted: 1 AWS access key")
        await expect(report.locator("blockquote")).to_contain_text("[REDACTED aws-access-key]")
        await page.screenshot(path=str(screenshot_path("playground-dry-run.png", tmp_path)))
    finally:
        await playground.stop()
