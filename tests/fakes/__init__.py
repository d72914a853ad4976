"""Local fakes of the outside world: the real SDKs are pointed at these aiohttp servers."""
