"""server_rec and the sections that hang off it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, eq=False)
class Section:
    """A <Directory>, <Location> or <Files> section (or its Match/~ form)."""

    kind: str                      # "directory" | "location" | "files"
    pattern: str
    regex: re.Pattern[str] | None
    confs: list[Any]               # per-module dir config vector of the contents
    filename: str
    line: int
    components: int = 0            # directory depth, for Apache's sort
    wildcard: bool = False
    uid: int = 0                   # stable id, part of merge-cache keys

    def describe(self) -> str:
        tag = {"directory": "Directory", "location": "Location", "files": "Files"}[self.kind]
        if self.regex is not None:
            return f"<{tag}Match {self.pattern}>"
        return f"<{tag} {self.pattern}>"


@dataclass(slots=True, eq=False)
class ServerRec:
    """One server: the main server or a <VirtualHost>. Field names follow server_rec."""

    is_virtual: bool = False
    server_hostname: str | None = None
    port: int = 0
    server_scheme: str | None = None
    server_admin: str | None = None
    addrs: list[tuple[str, int]] = field(default_factory=list)  # <VirtualHost> addresses
    names: list[str] = field(default_factory=list)              # ServerAlias, exact
    wild_names: list[str] = field(default_factory=list)         # ServerAlias with wildcards
    path: str | None = None                                     # ServerPath
    defn_name: str = ""
    defn_line_number: int = 0
    error_fname: str | None = None
    loglevel: int | None = None
    timeout: float | None = None
    keep_alive: bool | None = None
    keep_alive_timeout: float | None = None
    keep_alive_max: int | None = None
    limit_req_line: int | None = None
    limit_req_fieldsize: int | None = None
    limit_req_fields: int | None = None
    module_config: list[Any] = field(default_factory=list)
    lookup_defaults: list[Any] = field(default_factory=list)
    sec_dir: list[Section] = field(default_factory=list)
    sec_url: list[Section] = field(default_factory=list)
    error_log: Any = None            # featherd.log.ErrorLog once opened
    cache: dict[Any, Any] = field(default_factory=dict)  # merged-config cache

    def label(self) -> str:
        return self.server_hostname or "localhost"
