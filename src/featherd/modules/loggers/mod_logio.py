"""mod_logio: logging of input and output bytes per request, headers included.

Adds ``%I`` (bytes received, request line, headers and body), ``%O`` (bytes sent,
headers included) and, as in 2.4, ``%S`` (both together) to mod_log_config's formats.
The connection counts the raw bytes (``r.connection.bytes_in`` / ``bytes_out``); this
module only contributes the format directives, as mod_logio does through
``log_pfn_register``. It has no directives in 2.2. Without it loaded, ``%I`` is an
"Unrecognized LogFormat directive", as in Apache.
"""

from __future__ import annotations

from typing import Any

from featherd.core.module import Module
from featherd.modules.loggers.logitems import Escape, Getter, LogHandler

logio = Module("logio_module", "mod_logio.c",
               description="Logging of input and output bytes per request")


def _bytes_in(arg: str, esc: Escape) -> Getter:
    return lambda r: str(r.connection.bytes_in or 0)


def _bytes_out(arg: str, esc: Escape) -> Getter:
    return lambda r: str(r.connection.bytes_out or 0)


def _bytes_combined(arg: str, esc: Escape) -> Getter:
    def get(r: Any) -> str:
        c = r.connection
        return str((c.bytes_in or 0) + (c.bytes_out or 0))
    return get


#: The % directives this module adds (read by mod_log_config from loaded modules).
LOGIO_HANDLERS: dict[str, LogHandler] = {
    "I": LogHandler(_bytes_in),
    "O": LogHandler(_bytes_out),
    "S": LogHandler(_bytes_combined),
}

logio.log_handlers = LOGIO_HANDLERS  # type: ignore[attr-defined]
