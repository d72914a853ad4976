"""Reading an HTTP body without letting a huge one fill memory."""

from __future__ import annotations

import aiohttp


async def read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None if it is longer than `limit` bytes (read no further than that).
    (aiohttp's read(n) may return less than n, so it cannot say which.)"""
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
