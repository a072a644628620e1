"""The core module: core.c and http_core.c directives, registered like any module.

This file holds the module object (:data:`core`, and mod_version's :data:`version`),
its configuration records and their merge; the directive rows are in
:mod:`.core_lang`, :mod:`.core_server`, :mod:`.core_perdir` and :mod:`.core_logauth`,
imported at the end of this file so that they register on :data:`core`, in that order
(the order of ``featherd -L``). The section containers are in :mod:`.sections`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from featherd.config.directives import Context
from featherd.config.merge import UNSET, unset_field
from featherd.core.module import Module

ALL_OPTIONS = frozenset({"Indexes", "Includes", "FollowSymLinks", "ExecCGI",
                         "SymLinksIfOwnerMatch", "IncludesNOEXEC", "MultiViews"})
# "All" is everything but MultiViews (manual: Options).
OPT_ALL = ALL_OPTIONS - {"MultiViews"}
ETAG_ALL = frozenset({"INode", "MTime", "Size"})


def _merge_options(base: Any, new: Any) -> Any:  # not used by merge_records
    return new


def _merge_requires(base: Any, new: Any) -> Any:
    """Require lines: the child's replace the parent's, unless 2.4's AuthMerging And|Or
    (mod_authz_core) put a marker among them that combines both."""
    for _, line in new:
        if getattr(line, "is_marker", False):
            return line.merge_requires(base, new)
    return new


@dataclass(slots=True)
class CoreDirConfig:
    opts: Any = UNSET                 # absolute Options set, when given without +/-
    opts_add: Any = UNSET
    opts_remove: Any = UNSET
    override: Any = UNSET             # AllowOverride classes
    override_opts: Any = UNSET        # AllowOverride Options=... (None: all)
    default_type: Any = UNSET
    force_type: Any = UNSET
    handler: Any = UNSET              # SetHandler
    add_default_charset: Any = UNSET  # None for Off
    error_documents: Any = unset_field("update")
    accept_path_info: Any = UNSET
    etag: Any = UNSET
    etag_add: Any = UNSET
    etag_remove: Any = UNSET
    enable_sendfile: Any = UNSET
    enable_mmap: Any = UNSET
    hostname_lookups: Any = UNSET
    use_canonical_name: Any = UNSET
    server_signature: Any = UNSET
    limit_req_body: Any = UNSET
    limit_xml_req_body: Any = UNSET
    satisfy: Any = UNSET
    auth_type: Any = UNSET
    auth_name: Any = UNSET
    requires: Any = unset_field(lambda b, n: _merge_requires(b, n))  # [(methods|None, line)]
    sec_file: Any = unset_field("append")
    output_filters: Any = UNSET
    input_filters: Any = UNSET
    ct_output_filters: Any = unset_field("update")
    content_digest: Any = UNSET
    max_ranges: Any = UNSET
    log_level: Any = UNSET


@dataclass(slots=True)
class CoreServerConfig:
    document_root: Any = UNSET
    access_name: Any = UNSET
    trace_enable: Any = UNSET
    redirect_limit: Any = UNSET
    subreq_limit: Any = UNSET
    use_canonical_physical_port: Any = UNSET


class CoreModule(Module):
    def merge_dir_config(self, base: Any, new: Any) -> Any:
        from featherd.config.merge import merge_records

        out = merge_records(base, new)
        # Options: an absolute set replaces; +/- apply to the parent's (manual: Options)
        if new.opts is not UNSET:
            out.opts = new.opts
        else:
            cur = base.opts if base.opts is not UNSET else UNSET
            if new.opts_add is not UNSET or new.opts_remove is not UNSET:
                cur = OPT_ALL if cur is UNSET else cur
                cur = (cur - (new.opts_remove or frozenset())) | (new.opts_add or frozenset())
            out.opts = cur
        out.opts_add = out.opts_remove = UNSET
        if new.etag is not UNSET:
            out.etag = new.etag
        else:
            cur = base.etag
            if new.etag_add is not UNSET or new.etag_remove is not UNSET:
                cur = frozenset({"INode", "MTime", "Size"}) if cur is UNSET else cur
                cur = (cur - (new.etag_remove or frozenset())) | (new.etag_add or frozenset())
            out.etag = cur
        out.etag_add = out.etag_remove = UNSET
        return out


core = CoreModule("core_module", "core.c", dir_config=CoreDirConfig,
                  server_config=CoreServerConfig, description="Core Apache HTTP Server features")
#: mod_version: <IfVersion> lives in its own module, as in Apache (so that
#: <IfModule mod_version.c> is true); it is built in like the others.
version = Module("version_module", "mod_version.c",
                 description="Version dependent configuration")
RSRC = Context.RSRC
SERVER = Context.SERVER
ALL = Context.ALL_DIR
ACCESS = Context.ACCESS
DIRONLY = Context.DIR


def options(c: CoreDirConfig) -> frozenset[str]:
    o = c.opts
    return OPT_ALL if o is UNSET else o


def _flag(v: bool) -> bool:
    return v


# --- the directive rows: each file registers on `core` as it is imported, in this order
# (the order of `featherd -L`); they import the names above, so they come last
# isort: off
from featherd.core import core_lang, core_server, core_perdir, core_logauth  # noqa: E402, F401
# isort: on
