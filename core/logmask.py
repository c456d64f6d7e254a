"""Logs never carry a full ID number or phone: every log record is masked as it is created.

Installed once per process (API, worker) as a log-record factory, so it covers every logger and
handler, uvicorn's access log included (a query string could hold an ID number). String
arguments are masked one by one, so formatters that read `record.args` (uvicorn's access
formatter) keep working. Tracebacks are not rewritten: code must not put personal data into
exception messages.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# 18-character ID numbers and mainland mobiles / landlines, not inside longer digit runs.
_ID_NUMBER = re.compile(r"(?<![0-9])([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0[1-9][0-9]{1,2}-?)[0-9]{3,4}([0-9]{4})(?![0-9])")


def mask_text(text: str) -> str:
    text = _ID_NUMBER.sub(lambda m: m[1] + "*" * 8 + m[2], text)
    text = _MOBILE.sub(lambda m: m[1] + "****" + m[2], text)
    return _LANDLINE.sub(lambda m: m[1] + "****" + m[2], text)


def _mask(value: Any) -> Any:
    return mask_text(value) if isinstance(value, str) else value


def install() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "masks_personal_data", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = mask_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_mask(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _mask(v) for k, v in record.args.items()}
        return record

    factory.masks_personal_data = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
