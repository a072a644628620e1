"""Built-in modules, in the order Apache lists them, and loading of external ones.

External modules come from other Python packages through the ``featherd.modules``
entry-point group: ``LoadModule example_module ...`` finds the entry point named
``example_module`` (the role apxs and mod_so play for Apache).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from featherd.core.module import Module

#: (python module, attribute) of every built-in module, in load order.
BUILTIN: list[tuple[str, str]] = [
    ("featherd.core.builtin", "core"),
    ("featherd.core.core_module", "version"),
    ("featherd.mpm.directives", "mpm"),
    ("featherd.modules.aaa.mod_authn_file", "authn_file"),
    ("featherd.modules.aaa.mod_authn_dbm", "authn_dbm"),
    ("featherd.modules.aaa.mod_authn_dbd", "authn_dbd"),
    ("featherd.modules.aaa.mod_authn_anon", "authn_anon"),
    ("featherd.modules.aaa.mod_authn_default", "authn_default"),
    ("featherd.modules.aaa.mod_authn_alias", "authn_alias"),
    ("featherd.modules.aaa.mod_authz_host", "authz_host"),
    ("featherd.modules.aaa.mod_authz_groupfile", "authz_groupfile"),
    ("featherd.modules.aaa.mod_authz_user", "authz_user"),
    ("featherd.modules.aaa.mod_authz_dbm", "authz_dbm"),
    ("featherd.modules.aaa.mod_authz_owner", "authz_owner"),
    ("featherd.modules.aaa.mod_authz_default", "authz_default"),
    ("featherd.modules.aaa.mod_ldap", "ldap"),
    ("featherd.modules.aaa.mod_authnz_ldap", "authnz_ldap"),
    ("featherd.modules.aaa.mod_authz_core", "authz_core"),
    ("featherd.modules.aaa.mod_auth_basic", "auth_basic"),
    ("featherd.modules.aaa.mod_auth_digest", "auth_digest"),
    ("featherd.modules.database.mod_dbd", "dbd"),
    ("featherd.modules.filters.mod_ext_filter", "ext_filter"),
    ("featherd.modules.filters.include", "include"),
    ("featherd.modules.filters.mod_filter", "filter_mod"),
    ("featherd.modules.filters.mod_substitute", "substitute"),
    ("featherd.modules.filters.mod_charset_lite", "charset_lite"),
    ("featherd.modules.filters.mod_reqtimeout", "reqtimeout"),
    ("featherd.modules.filters.mod_deflate", "deflate"),
    ("featherd.modules.filters.mod_dumpio", "dumpio"),
    ("featherd.modules.filters.mod_echo", "echo"),
    ("featherd.modules.http.mod_mime", "mime"),
    ("featherd.modules.loggers.mod_log_config", "log_config"),
    ("featherd.modules.loggers.mod_log_forensic", "forensic"),
    ("featherd.modules.loggers.mod_logio", "logio"),
    ("featherd.modules.metadata.mod_env", "env"),
    ("featherd.modules.metadata.mod_expires", "expires"),
    ("featherd.modules.metadata.mod_headers", "headers"),
    ("featherd.modules.metadata.mod_mime_magic", "mime_magic"),
    ("featherd.modules.metadata.mod_cern_meta", "cern_meta"),
    ("featherd.modules.metadata.mod_ident", "ident"),
    ("featherd.modules.metadata.mod_usertrack", "usertrack"),
    ("featherd.modules.metadata.mod_unique_id", "unique_id"),
    ("featherd.modules.metadata.mod_setenvif", "setenvif"),
    ("featherd.modules.ssl", "ssl_module"),
    ("featherd.modules.generators.mod_status", "status"),
    ("featherd.modules.generators.autoindex", "autoindex_module"),
    ("featherd.modules.generators.mod_info", "info"),
    ("featherd.modules.generators.mod_asis", "asis"),
    ("featherd.modules.generators.mod_cgi", "cgi"),
    ("featherd.modules.mappers.vhost_alias", "vhost_alias"),
    ("featherd.modules.mappers.negotiation", "negotiation"),
    ("featherd.modules.mappers.mod_dir", "dir"),
    ("featherd.modules.mappers.imagemap", "imagemap"),
    ("featherd.modules.mappers.actions", "actions"),
    ("featherd.modules.mappers.speling", "speling"),
    ("featherd.modules.mappers.userdir", "userdir"),
    ("featherd.modules.mappers.mod_alias", "alias"),
    ("featherd.modules.mappers.rewrite", "rewrite"),
    ("featherd.modules.python.mod_wsgi", "wsgi"),
    ("featherd.modules.python.mod_asgi", "asgi"),
]


def register_builtin(path: str, attr: str) -> None:
    if (path, attr) not in BUILTIN:
        BUILTIN.append((path, attr))


def builtin_modules() -> list[Module]:
    out: list[Module] = []
    for path, attr in BUILTIN:
        m = getattr(importlib.import_module(path), attr)
        if m not in out:
            out.append(m)
    return out


def load_external(name: str) -> Module | None:
    for ep in entry_points(group="featherd.modules"):
        if ep.name == name:
            return ep.load()  # type: ignore[no-any-return]
    return None
