"""The one import surface for module authors.

A third-party module imports from here only; everything it needs to declare directives,
keep per-server and per-directory configuration, register hooks, handlers, filters and
providers, and answer requests::

    from featherd.api import OK, DECLINED, ArgSpec, Context, Module, Override, pass_brigade

The guide is docs/modules.md; a complete example is examples/featherd-example (the
counterpart of Apache's mod_example_hooks). Names keep Apache's spelling where Apache
has one (``OK``, ``DECLINED``, ``REALLY_FIRST``, ``FTYPE_CONTENT_SET``, ``lookup_uri`` for
``ap_sub_req_lookup_uri``...).
"""

from __future__ import annotations

from typing import Any

from featherd import APACHE_COMPAT_VERSION, __version__
from featherd.config.directives import ArgSpec, Context, Directive, Override
from featherd.config.merge import UNSET, merge_records, unset_field, value
from featherd.config.parser import CmdParms
from featherd.core.access import auth_name, auth_type, requires_for, some_auth_required
from featherd.core.hooks import (
    DECLINED,
    DONE,
    FIRST,
    HOOK_SPECS,
    LAST,
    MIDDLE,
    OK,
    REALLY_FIRST,
    REALLY_LAST,
    Policy,
)
from featherd.core.http_request import internal_redirect
from featherd.core.module import Module
from featherd.core.request import Request
from featherd.core.subrequest import lookup_file, lookup_uri, run_sub_req
from featherd.errors import ConfigError, DirectiveError, FeatherdError, HTTPError
from featherd.filters.buckets import EOS, FLUSH, FileBucket, bucket_len, flatten
from featherd.filters.chain import (
    FTYPE_CONNECTION,
    FTYPE_CONTENT_SET,
    FTYPE_NETWORK,
    FTYPE_PROTOCOL,
    FTYPE_RESOURCE,
    FTYPE_TRANSCODE,
    add_output_filter,
    pass_brigade,
    remove_output_filter,
)
from featherd.http.headers import Headers
from featherd.log import ALERT, CRIT, DEBUG, EMERG, ERROR, INFO, NOTICE, WARN
from featherd.modules.aaa.common import (
    AUTH_DENIED,
    AUTH_GENERAL_ERROR,
    AUTH_GRANTED,
    AUTH_USER_FOUND,
    AUTH_USER_NOT_FOUND,
    AUTHZ_DENIED,
    AUTHZ_DENIED_NO_USER,
    AUTHZ_GENERAL_ERROR,
    AUTHZ_GRANTED,
    AUTHZ_NEUTRAL,
)

#: Version of this module API. A module may check it at import time; it changes when a
#: name here changes meaning or goes away (additions keep the number).
MODULE_API_VERSION = 1


def lookup_provider(where: Any, group: str, name: str) -> Any:
    """ap_lookup_provider: the object a module registered with ``mod.provider(group, name,
    obj)``, or None. ``where`` is a Request or the server's configuration tree."""
    tree = getattr(where, "tree", where)
    return tree.providers.get((group, name))


__all__ = [
    "AUTH_DENIED", "AUTH_GENERAL_ERROR", "AUTH_GRANTED", "AUTH_USER_FOUND",
    "AUTH_USER_NOT_FOUND", "AUTHZ_DENIED", "AUTHZ_DENIED_NO_USER", "AUTHZ_GENERAL_ERROR",
    "AUTHZ_GRANTED", "AUTHZ_NEUTRAL",
    "ALERT", "APACHE_COMPAT_VERSION", "CRIT", "DEBUG", "DECLINED", "DONE", "EMERG", "EOS",
    "ERROR", "FIRST", "FLUSH", "FTYPE_CONNECTION", "FTYPE_CONTENT_SET", "FTYPE_NETWORK",
    "FTYPE_PROTOCOL", "FTYPE_RESOURCE", "FTYPE_TRANSCODE", "HOOK_SPECS", "INFO", "LAST",
    "MIDDLE", "MODULE_API_VERSION", "NOTICE", "OK", "REALLY_FIRST", "REALLY_LAST", "UNSET",
    "WARN", "ArgSpec", "CmdParms", "ConfigError", "Context", "Directive", "DirectiveError",
    "FeatherdError", "FileBucket", "HTTPError", "Headers", "Module", "Override", "Policy",
    "Request", "__version__", "add_output_filter", "auth_name", "auth_type", "bucket_len",
    "flatten", "internal_redirect", "lookup_file", "lookup_provider", "lookup_uri",
    "merge_records", "pass_brigade", "remove_output_filter", "requires_for", "run_sub_req",
    "some_auth_required", "unset_field", "value",
]
