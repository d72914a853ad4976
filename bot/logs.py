"""Structured logging: one JSON object per line, secrets masked on the way out.

`log_event(logger, "answer", request_id=..., tokens=...)` writes
`{"ts": ..., "level": "INFO", "event": "answer", "request_id": ..., ...}`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

# Token shapes that must never reach a log line, whatever code (ours or a library's) logs them.
_SECRET = re.compile(
    r"\b(xox[abposr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,}|sk-ant-[A-Za-z0-9_-]{6,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"
)


def mask_secrets(text: str) -> str:
    return _SECRET.sub(lambda m: m.group(0)[:5] + "…[masked]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if fields:
            line["event"] = record.getMessage()
            line.update(fields)
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return mask_secrets(json.dumps(line, default=str, ensure_ascii=False))


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, event, extra={"fields": fields})


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
