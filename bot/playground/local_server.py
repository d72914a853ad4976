"""The one way a local server is run: an aiohttp app on a loopback port (a free one unless
told). The emulated Slack, the playground's page and the test suite's fakes are served so."""

from __future__ import annotations

from aiohttp import web


class LocalServer:
    def __init__(self, app: web.Application | None = None) -> None:
        self.app = app or web.Application()
        self._runner: web.AppRunner | None = None
        self.origin = ""  # http://127.0.0.1:PORT once started

    async def start(self, host: str = "127.0.0.1", port: int = 0):
        # Open WebSockets and streams are cut after 2 s on stop, not aiohttp's 60.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.origin = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
