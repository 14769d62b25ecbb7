"""Client text in the gateway's log lines: quoted, escaped, clipped.

Whatever a client chooses (user IDs, operationIDs, conversation IDs, error
details built from them) reaches a log line only through ``quoted``, which
shows it as a Python literal: a newline, a carriage return, an escape
sequence or a Unicode line separator becomes a visible backslash escape, so
no value can start a line of its own and pass for a record of the gateway
(``docs/backends/kkim.md#limits``). As a last guard the gateway's loggers
carry a ``OneLine`` filter that escapes what is left of any such character
in a finished message, so one record is always one line.
"""

from __future__ import annotations

import logging

#: longest client value shown in a log line, quotes excluded
SHOWN_MAX = 80


def quoted(value: object, limit: int = SHOWN_MAX) -> str:
    """``value`` as a quoted literal with every non-printable character escaped.

    ``repr`` escapes line breaks, C0 and C1 controls, U+2028/U+2029 and every
    other character ``str.isprintable`` refuses; text over ``limit``
    characters is clipped and marked with ``...`` after the closing quote.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit - 3]) + "..."


def escape(text: str) -> str:
    """``text`` with each non-printable character replaced by its escape; quotes kept as they are."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class OneLine(logging.Filter):
    """Escapes line breaks and controls left in a record's message (the traceback is not the message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.isprintable():
            record.msg, record.args = escape(message), None
        return True


def one_line(logger: logging.Logger) -> logging.Logger:
    """Attach ``OneLine`` to ``logger`` once; return it."""
    if not any(isinstance(f, OneLine) for f in logger.filters):
        logger.addFilter(OneLine())
    return logger
