"""What Claude writes may repeat a prompt injection: nothing it posts pings a channel or hides
where a link goes."""

from __future__ import annotations

import pytest
from fakes.claude_api import Reply

from bot.slack.safe_text import SafeStream, neutralise


@pytest.mark.parametrize(
    "written, shown",
    [
        ("heads up <!here>", "heads up `@here`"),
        ("<!channel> and <!everyone|everyone>", "`@channel` and `@everyone`"),
        ("paging <!subteam^S0123|@oncall>", "paging `@oncall`"),
        ("log in at <https://evil.example/login|https://acme.okta.com>", "log in at https://evil.example/login"),
        ("see [acme.okta.com](https://evil.example)", "see https://evil.example"),
        ("see [the docs](https://docs.python.org/3/)", "see [the docs](https://docs.python.org/3/)"),
        ("<https://acme.okta.com/a|acme.okta.com/a>", "<https://acme.okta.com/a|acme.okta.com/a>"),
        ("if a < b and items[0] > 1: pass", "if a < b and items[0] > 1: pass"),
    ],
)
def test_broadcasts_are_defused_and_disguised_links_show_their_target(written, shown):
    assert neutralise(written) == shown


@pytest.mark.parametrize("size", [1, 2, 3, 7, 50])
def test_text_in_pieces_comes_out_as_the_whole_would(size):
    text = (
        "Ping <!here>: log in at <https://evil.example|https://acme.okta.com>, then [docs](https://a.io) "
        "and `x[0] < y` ... <!channel>"
    )
    stream = SafeStream()
    out = "".join(stream.feed(text[i : i + size]) for i in range(0, len(text), size)) + stream.finish()
    assert out == neutralise(text)


async def test_an_answer_cannot_ping_the_channel_or_disguise_a_link(bot):
    bot.claude.then(
        Reply(
            chunks=("Done. <!", "channel> please log in at <https://evil.example|", "https://acme.okta.com>."),
            delay=0.05,
        )
    )
    ts, _ = await bot.mention("summarise the PR")
    await bot.idle()
    (reply,) = bot.slack.thread("C1", ts)
    assert reply.markdown == "Done. `@channel` please log in at https://evil.example."
