"""Structured (JSON-lines) logs with personal data masked, whatever a caller put in the message."""
from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone

from accidentlink.masking import mask_text


class MaskingJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        out = {"at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "pid": record.process,
               "msg": mask_text(msg)}
        if record.exc_info:
            out["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str | None = None) -> None:
    root = logging.getLogger()
    if getattr(root, "_accidentlink", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MaskingJsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("LOG_LEVEL", "INFO")).upper())
    # twilio's client logs each request's form (a party's link) at INFO
    for noisy in ("kafka", "aiokafka", "faust", "mode", "uvicorn.access", "alembic", "twilio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("kafka.admin").setLevel(logging.ERROR)  # it cannot decode faust's group metadata; harmless
    root._accidentlink = True  # type: ignore[attr-defined]
