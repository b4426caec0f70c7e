"""Log lines: one JSON object per line on standard error (LOG_FORMAT=json), or readable lines for
`make run` (LOG_FORMAT=console). Our structlog lines and every standard-library record (our
modules' logging.getLogger, Django's own) go through the same chain, so both carry the request
id, user id, client IP, method and path that portal.request_log binds for the request.

Share-link tokens are secrets in URLs (/s/<token>, /links/<token>/, /api/links/<token>): every
string in a line has them masked, whoever logged it.
"""

from __future__ import annotations

import logging.config
import re
import sys

import structlog

# The token segment after /s/, /links/ or /api/links/, up to the next "/", "?", "#" or blank.
TOKEN_IN_PATH = re.compile(r"(/(?:api/)?(?:s|links)/)[^/\s?#\"']+")
MASK = "***"
FORMATS = ("json", "console")


def mask_tokens(text: str) -> str:
    """The text with every share-link token in a path replaced by ***."""
    return TOKEN_IN_PATH.sub(rf"\g<1>{MASK}", text)


def _mask_token_values(logger, method_name, event_dict):
    for key, value in event_dict.items():
        if isinstance(value, str) and "/" in value:
            event_dict[key] = mask_tokens(value)
    return event_dict


# For lines from structlog and from the standard library alike, before they are rendered.
SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.PositionalArgumentsFormatter(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    """One JSON object per line. Tracebacks as plain text: never with local variables."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _mask_token_values,
            structlog.processors.JSONRenderer(),
        ],
    )


def console_formatter() -> structlog.stdlib.ProcessorFormatter:
    """Aligned, readable lines for a terminal (colours only when standard error is one)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _mask_token_values,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
    )


def configure(logging_settings: dict) -> None:
    """LOGGING_CONFIG: structlog hands its lines to the standard library, then dictConfig."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(logging_settings)
