"""Client logging: Python's `logging` under the "kp" logger."""
from __future__ import annotations

import logging
from typing import Union

_logger = logging.getLogger("kp")
_logger.addHandler(logging.NullHandler())

# Kompute's v0.5 levels (spdlog's): 0 trace, 1 debug, 2 info, 3 warn, 4 error, 5 critical, 6 off.
_SPDLOG_LEVELS = {
    0: logging.DEBUG,
    1: logging.DEBUG,
    2: logging.INFO,
    3: logging.WARNING,
    4: logging.ERROR,
    5: logging.CRITICAL,
    6: logging.CRITICAL + 10,
}
_NAMED_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "off": logging.CRITICAL + 10,
}


def log_level(level: Union[int, str]) -> None:
    """Sets the level of the client's "kp" logger and makes sure its records are shown.

    `level` is one of Kompute's 0 (trace) .. 6 (off), a Python logging level (10, 20, ...),
    or a name ("debug", "info", "warn", "error", "critical", "off").
    """
    if isinstance(level, str):
        try:
            value = _NAMED_LEVELS[level.lower()]
        except KeyError:
            raise ValueError(f"log_level: unknown level {level!r}") from None
    elif isinstance(level, int) and level in _SPDLOG_LEVELS:
        value = _SPDLOG_LEVELS[level]
    elif isinstance(level, int) and level >= 10:
        value = level
    else:
        raise ValueError(f"log_level: unknown level {level!r}")
    _logger.setLevel(value)
    if not any(not isinstance(h, logging.NullHandler) for h in _logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s kp: %(message)s"))
        _logger.addHandler(handler)
