"""The core module: core.c and http_core.c directives, registered like any module."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from featherd import APACHE_COMPAT_VERSION
from featherd.config.directives import OVERRIDE_NAMES, ArgSpec, Context, Override
from featherd.config.merge import UNSET, unset_field
from featherd.config.parser import CmdParms, include
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.log import parse_level

ALL_OPTIONS = frozenset({"Indexes", "Includes", "FollowSymLinks", "ExecCGI",
                         "SymLinksIfOwnerMatch", "IncludesNOEXEC", "MultiViews"})
_OPT_NAMES = {o.lower(): o for o in ALL_OPTIONS}
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


# --- the configuration language itself -------------------------------------------
@core.directive("ServerRoot", args=ArgSpec.TAKE1, context=SERVER,
                help="Common directory of server-related files (logs, confs, etc.)")
def server_root(cmd: CmdParms, conf: Any, path: str) -> None:
    p = os.path.abspath(os.path.join(cmd.tree.server_root, path))
    if not os.path.isdir(p):
        raise DirectiveError("ServerRoot must be a valid directory")
    cmd.tree.server_root = p


@core.directive("Include", args=ArgSpec.TAKE1, context=ACCESS,
                help="Name(s) of the config file(s) to be included; fails if the wildcard "
                     "does not match at least one file")
def include_(cmd: CmdParms, conf: Any, path: str) -> None:
    include(cmd, path, optional=False)


@core.directive("IncludeOptional", args=ArgSpec.TAKE1, context=ACCESS,
                help="Name or pattern of the config file(s) to be included; ignored if the "
                     "file does not exist or the pattern does not match any files")
def include_optional(cmd: CmdParms, conf: Any, path: str) -> None:
    include(cmd, path, optional=True)


def _cond_arg(cmd: CmdParms, what: str) -> str:
    a = cmd.node.args.strip() if cmd.node else ""
    if not a:
        raise DirectiveError(f"<{what}> directive requires additional arguments")
    return a


@core.directive("IfModule", args=ArgSpec.RAW_ARGS, context=ALL, override=Override.ALL,
                container=True, syntax="<IfModule [!]module-file|module-identifier> ... </IfModule>",
                help="Container for directives based on existence of specified modules")
def if_module(cmd: CmdParms, conf: Any, raw: str) -> None:
    arg = _cond_arg(cmd, "IfModule")
    neg = arg.startswith("!")
    name = arg[1:] if neg else arg
    found = cmd.tree.module_by_source(name) is not None and (
        cmd.tree.module_by_source(name).name in cmd.tree.loaded)  # type: ignore[union-attr]
    if found != neg:
        assert cmd.node and cmd.node.children is not None
        cmd.walk(cmd.node.children)


@core.directive("IfDefine", args=ArgSpec.RAW_ARGS, context=ALL, override=Override.ALL,
                container=True, syntax="<IfDefine [!]parameter-name> ... </IfDefine>",
                help="Container for directives based on existence of command line defines")
def if_define(cmd: CmdParms, conf: Any, raw: str) -> None:
    arg = _cond_arg(cmd, "IfDefine")
    neg = arg.startswith("!")
    name = arg[1:] if neg else arg
    if (name in cmd.tree.defines) != neg:
        assert cmd.node and cmd.node.children is not None
        cmd.walk(cmd.node.children)


_VER_RE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


def version_matches(op: str, spec: str, have: tuple[int, int, int] = APACHE_COMPAT_VERSION) -> bool:
    if op in ("~",) or (spec.startswith("/") and spec.endswith("/")):
        pat = spec[1:-1] if spec.startswith("/") else spec
        return re.search(pat, ".".join(map(str, have))) is not None
    m = _VER_RE.match(spec)
    if not m:
        raise DirectiveError("Version appears to be invalid. It must have the format "
                             "major[.minor[.patch]] where major, minor and patch are numbers.")
    want = tuple(int(x) if x is not None else None for x in m.groups())
    if op in ("=", "=="):
        return all(w is None or w == h for w, h in zip(want, have, strict=True))
    full = tuple(w if w is not None else 0 for w in want)
    if op == ">":
        return have > full
    if op == ">=":
        return have >= full
    if op == "<":
        return have < full
    if op == "<=":
        return have <= full
    raise DirectiveError(f"unrecognized operator '{op}'")


@version.directive("IfVersion", args=ArgSpec.RAW_ARGS, context=ALL, override=Override.ALL,
                container=True, syntax="<IfVersion [[!]operator] version> ... </IfVersion>",
                help="a comparison operator followed by a version, or a regular expression")
def if_version(cmd: CmdParms, conf: Any, raw: str) -> None:
    words = _cond_arg(cmd, "IfVersion").split()
    neg = False
    if words[0].startswith("!"):
        neg = True
        words[0] = words[0][1:]
        if not words[0]:
            words.pop(0)
    if len(words) == 1:
        op, spec = ("~" if words[0].startswith("/") else "="), words[0]
    elif len(words) == 2:
        op, spec = words
    else:
        raise DirectiveError("<IfVersion> takes 1-2 arguments")
    if version_matches(op, spec) != neg:
        assert cmd.node and cmd.node.children is not None
        cmd.walk(cmd.node.children)


@core.directive("Define", args=ArgSpec.TAKE12, context=RSRC,
                syntax="Define parameter-name [parameter-value]",
                help="Define a variable, optionally to a value.  Same as passing -D to the command "
                     "line.")
def define(cmd: CmdParms, conf: Any, name: str, value: str | None) -> None:
    cmd.tree.defines.add(name)
    if value is not None:
        cmd.tree.define_vars[name] = value


@core.directive("UnDefine", args=ArgSpec.TAKE1, context=RSRC, help="Undefine a variable")
def undefine(cmd: CmdParms, conf: Any, name: str) -> None:
    cmd.tree.defines.discard(name)
    cmd.tree.define_vars.pop(name, None)


# --- server identity and limits ----------------------------------------------------
def _server_level_setter(field_name: str, conv: Any, help: str, syntax: str = "",
                         context: Context = RSRC) -> None:
    def fn(cmd: CmdParms, conf: Any, value: str) -> None:
        setattr(cmd.server, field_name, conv(value))
    core.directive(field_name, args=ArgSpec.TAKE1, context=context, help=help,
                   syntax=syntax)(fn)


def _int_arg(name: str, lo: int = 0) -> Any:
    def conv(v: str) -> int:
        try:
            n = int(v)
        except ValueError:
            raise DirectiveError(f"{name} argument is not a number") from None
        if n < lo:
            raise DirectiveError(f"{name} must be at least {lo}")
        return n
    return conv


def _server_directive(name: str, attr: str, conv: Any, help: str) -> None:
    def fn(cmd: CmdParms, conf: Any, value: str) -> None:
        setattr(cmd.server, attr, conv(value))
    fn.__name__ = attr
    core.directive(name, args=ArgSpec.TAKE1, context=RSRC, help=help)(fn)


def _seconds(name: str) -> Any:
    def conv(v: str) -> float:
        s = v.strip().lower()
        mult = 1.0
        if s.endswith("ms"):
            s, mult = s[:-2], 0.001
        try:
            return float(int(s)) * mult
        except ValueError:
            raise DirectiveError(f"{name} argument is not a number") from None
    return conv


_server_directive("TimeOut", "timeout", _seconds("TimeOut"), "Timeout duration (sec)")
_server_directive("KeepAliveTimeout", "keep_alive_timeout", _seconds("KeepAliveTimeout"),
                  "Keep-Alive timeout duration (sec)")
_server_directive("MaxKeepAliveRequests", "keep_alive_max", _int_arg("MaxKeepAliveRequests"),
                  "Maximum number of Keep-Alive requests per connection, or 0 for infinite")
_server_directive("LimitRequestLine", "limit_req_line", _int_arg("LimitRequestLine"),
                  "Limit on maximum size of an HTTP request line")
_server_directive("LimitRequestFieldsize", "limit_req_fieldsize",
                  _int_arg("LimitRequestFieldsize"),
                  "Limit on maximum size of an HTTP request header field")
_server_directive("LimitRequestFields", "limit_req_fields", _int_arg("LimitRequestFields"),
                  "Limit (0 = unlimited) on max number of header fields in a request message")


@core.directive("KeepAlive", args=ArgSpec.FLAG, context=RSRC,
                help="Whether persistent connections should be On or Off")
def keep_alive(cmd: CmdParms, conf: Any, on: bool) -> None:
    cmd.server.keep_alive = on


@core.directive("ServerName", args=ArgSpec.TAKE1, context=RSRC,
                syntax="ServerName [scheme://]fully-qualified-domain-name[:port]",
                help="The hostname and port of the server")
def server_name(cmd: CmdParms, conf: Any, name: str) -> None:
    scheme = None
    if "://" in name:
        scheme, name = name.split("://", 1)
    host, port = name, 0
    m = re.match(r"^(\[[^\]]+\]|[^:]*)(?::(\d+))?$", name)
    if not m:
        raise DirectiveError(f"Invalid ServerName \"{name}\" use a fully qualified name")
    host = m.group(1)
    if m.group(2):
        port = int(m.group(2))
    cmd.server.server_hostname = host
    cmd.server.port = port
    cmd.server.server_scheme = scheme


@core.directive("ServerAlias", args=ArgSpec.ITERATE, context=Context.VHOST,
                help="A name or names alternately used to access the server")
def server_alias(cmd: CmdParms, conf: Any, name: str) -> None:
    if any(c in name for c in "*?["):
        cmd.server.wild_names.append(name.lower())
    else:
        cmd.server.names.append(name.lower())


@core.directive("ServerAdmin", args=ArgSpec.TAKE1, context=RSRC,
                help="The email address of the server administrator")
def server_admin(cmd: CmdParms, conf: Any, addr: str) -> None:
    cmd.server.server_admin = addr


@core.directive("ServerPath", args=ArgSpec.TAKE1, context=RSRC,
                help="The pathname the server can be reached at")
def server_path(cmd: CmdParms, conf: Any, p: str) -> None:
    cmd.server.path = p


@core.directive("DocumentRoot", args=ArgSpec.TAKE1, context=RSRC,
                help="Root directory of the document tree")
def document_root(cmd: CmdParms, conf: CoreServerConfig, path: str) -> None:
    p = cmd.server_root_relative(path)
    p = os.path.normpath(p) if p != "/" else p
    if not os.path.isdir(p):
        cmd.tree.warnings.append(f"Warning: DocumentRoot [{p}] does not exist")
    conf.document_root = p


@core.directive("AccessFileName", args=ArgSpec.TAKE_ARGV, context=RSRC,
                syntax="AccessFileName filename [filename] ...",
                help="Name(s) of per-directory config files (default: .htaccess)")
def access_file_name(cmd: CmdParms, conf: CoreServerConfig, names: list[str]) -> None:
    if not names:
        raise DirectiveError("AccessFileName requires at least one argument, Name(s) of "
                             "per-directory config files (default: .htaccess)")
    conf.access_name = list(names)


@core.directive("TraceEnable", args=ArgSpec.TAKE1, context=SERVER,
                help="'on' (default), 'off' or 'extended' to trace request body content")
def trace_enable(cmd: CmdParms, conf: CoreServerConfig, v: str) -> None:
    v = v.lower()
    if v not in ("on", "off", "extended"):
        raise DirectiveError("TraceEnable must be one of 'on', 'off', or 'extended'")
    conf.trace_enable = v


@core.directive("LimitInternalRecursion", args=ArgSpec.TAKE12, context=RSRC,
                help="maximum recursion depth of internal redirects and subrequests")
def limit_internal_recursion(cmd: CmdParms, conf: CoreServerConfig, a: str, b: str | None) -> None:
    try:
        conf.redirect_limit = int(a)
        conf.subreq_limit = int(b) if b is not None else int(a)
    except ValueError:
        raise DirectiveError("LimitInternalRecursion argument is not a number") from None


@core.directive("UseCanonicalPhysicalPort", args=ArgSpec.FLAG, context=ACCESS,
                conf="server", help="Whether to use the physical Port when constructing URLs")
def use_canonical_physical_port(cmd: CmdParms, conf: CoreServerConfig, on: bool) -> None:
    conf.use_canonical_physical_port = on


@core.directive("ServerTokens", args=ArgSpec.TAKE1, context=SERVER,
                syntax="ServerTokens Major|Minor|Min[imal]|Prod[uctOnly]|OS|Full",
                help="Determine tokens displayed in the Server: header - Min(imal), "
                     "Major, Minor, Prod(uctOnly), OS, or Full")
def server_tokens(cmd: CmdParms, conf: Any, v: str) -> None:
    m = v.lower()
    table = {"os": "os", "min": "min", "minimal": "min", "major": "major", "minor": "minor",
             "prod": "prod", "productonly": "prod", "full": "full"}
    cmd.tree.extra["server_tokens"] = table.get(m, "full")


# --- per-directory basics -----------------------------------------------------------
@core.directive("Options", args=ArgSpec.RAW_ARGS, context=ALL, override=Override.OPTIONS,
                syntax="Options [+|-]option [[+|-]option] ...",
                help="Set a number of attributes for a given directory")
def options_(cmd: CmdParms, conf: CoreDirConfig, raw: str) -> None:
    absolute: set[str] | None = None
    add: set[str] = set()
    remove: set[str] = set()
    words = raw.split()
    if not words:
        raise DirectiveError("Options requires at least one argument")
    allowed = cmd.override_opts if cmd.where is Context.HTACCESS else None
    for w in words:
        action = ""
        if w[0] in "+-":
            action, w = w[0], w[1:]
        lw = w.lower()
        if lw == "all":
            opts = set(OPT_ALL)
        elif lw == "none":
            opts = set()
        elif lw == "includesnoexec":
            opts = {"IncludesNOEXEC"}
        elif lw in _OPT_NAMES:
            opts = {_OPT_NAMES[lw]}
        else:
            raise DirectiveError(f"Illegal option {w}")
        if allowed is not None and not opts <= allowed and opts:
            raise DirectiveError("Option " + w + " not allowed here")
        if action == "+":
            add |= opts
            remove -= opts
        elif action == "-":
            remove |= opts
            add -= opts
        else:
            absolute = (absolute or set()) | opts if lw != "none" else set()
            add.clear()
            remove.clear()
    if absolute is not None:
        conf.opts = frozenset((absolute | add) - remove)
        conf.opts_add = conf.opts_remove = UNSET
    else:
        conf.opts_add = frozenset(add)
        conf.opts_remove = frozenset(remove)


@core.directive("AllowOverride", args=ArgSpec.RAW_ARGS, context=Context.DIRECTORY,
                syntax="AllowOverride All|None|directive-type [directive-type] ...",
                help="Controls what groups of directives can be configured by per-directory "
                     "config files")
def allow_override(cmd: CmdParms, conf: CoreDirConfig, raw: str) -> None:
    if cmd.section_regex is not None and False:
        pass
    ov = Override.NONE
    opts: frozenset[str] | None = None
    for w in raw.split():
        lw = w.lower()
        if lw == "all":
            ov = Override.ALL
        elif lw == "none":
            ov = Override.NONE
        elif lw.startswith("options="):
            ov |= Override.OPTIONS
            names = set()
            for o_raw in w.split("=", 1)[1].split(","):
                o = o_raw.strip().lower()
                if o == "all":
                    names |= OPT_ALL
                elif o in _OPT_NAMES:
                    names.add(_OPT_NAMES[o])
                elif o:
                    raise DirectiveError(f"Illegal option {o_raw}")
            opts = frozenset(names)
        elif lw in OVERRIDE_NAMES:
            ov |= OVERRIDE_NAMES[lw]
            if lw == "options":
                opts = None
        elif lw in ("nonfatal=override", "nonfatal=unknown", "nonfatal=all"):
            continue
        else:
            raise DirectiveError(f"Illegal override option {w}")
    conf.override = ov
    conf.override_opts = opts


@core.directive("DefaultType", args=ArgSpec.TAKE1, context=ALL, override=Override.FILEINFO,
                help="the default media type for otherwise untyped files (DefaultType None "
                     "disables)")
def default_type(cmd: CmdParms, conf: CoreDirConfig, t: str) -> None:
    conf.default_type = None if t.lower() == "none" else t


@core.directive("ForceType", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                override=Override.FILEINFO,
                help="a mime type that overrides other configured type")
def force_type(cmd: CmdParms, conf: CoreDirConfig, t: str) -> None:
    conf.force_type = None if t.lower() == "none" else t.lower()


@core.directive("SetHandler", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                override=Override.FILEINFO,
                help="a handler name that overrides any other configured handler")
def set_handler(cmd: CmdParms, conf: CoreDirConfig, h: str) -> None:
    conf.handler = None if h.lower() == "none" else h.lower()


@core.directive("AddDefaultCharset", args=ArgSpec.TAKE1, context=ALL,
                override=Override.FILEINFO,
                help="The name of the default charset to add to any Content-Type without one "
                     "or 'Off' to disable")
def add_default_charset(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    lv = v.lower()
    conf.add_default_charset = None if lv == "off" else ("ISO-8859-1" if lv == "on" else v)


@core.directive("ErrorDocument", args=ArgSpec.TAKE2, context=ALL,
                override=Override.FILEINFO, syntax="ErrorDocument error-code document",
                help="Change responses for HTTP errors")
def error_document(cmd: CmdParms, conf: CoreDirConfig, code_s: str, what: str) -> None:
    """2.2's set_error_document: a known status code; the second word (quotes already
    removed) is a message when it has a blank or is neither a local path nor a URL."""
    from featherd.http.status import REASONS

    try:
        code = int(code_s)
    except ValueError:
        code = 0
    if code not in REASONS or code < 200:
        raise DirectiveError(f"Unsupported HTTP response code {code_s}")
    if " " in what:
        kind = "text"
    elif what.startswith("/"):
        kind = "local"
    elif re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", what):
        kind = "external"
    else:
        kind = "text"
    if code == 401 and kind == "external":
        cmd.tree.warnings.append(f"{cmd.filename}:{cmd.line} cannot use a full URL in a 401 "
                                 "ErrorDocument directive --- ignoring!")
        return
    doc: tuple[str, str] = ("default", "") if what == "default" else (kind, what)
    cur = dict(conf.error_documents or {})
    cur[code] = doc
    conf.error_documents = cur


@core.directive("AcceptPathInfo", args=ArgSpec.TAKE1, context=ALL, override=Override.FILEINFO,
                syntax="AcceptPathInfo On|Off|Default",
                help="Set to on or off for PATH_INFO to be accepted by handlers, or default for "
                     "the per-handler preference")
def accept_path_info(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    lv = v.lower()
    if lv not in ("on", "off", "default"):
        raise DirectiveError("AcceptPathInfo must be set to on, off or default")
    conf.accept_path_info = {"on": True, "off": False, "default": None}[lv]


@core.directive("FileETag", args=ArgSpec.RAW_ARGS, context=ALL, override=Override.FILEINFO,
                syntax="FileETag component ...",
                help="Specify components used to construct a file's ETag")
def file_etag(cmd: CmdParms, conf: CoreDirConfig, raw: str) -> None:
    names = {"inode": "INode", "mtime": "MTime", "size": "Size"}
    absolute: set[str] | None = None
    add: set[str] = set()
    remove: set[str] = set()
    for w in raw.split():
        action = ""
        if w[0] in "+-":
            action, w = w[0], w[1:]
        lw = w.lower()
        if lw == "all":
            s = set(ETAG_ALL)
        elif lw == "none":
            s = set()
        elif lw in names:
            s = {names[lw]}
        else:
            raise DirectiveError(f"Unknown keyword '{w}' for FileETag")
        if action == "+":
            add |= s
        elif action == "-":
            remove |= s
        else:
            if absolute is None:
                absolute = set()
            absolute |= s
    if absolute is not None:
        conf.etag = frozenset((absolute | add) - remove)
    else:
        conf.etag_add = frozenset(add)
        conf.etag_remove = frozenset(remove)


def _dir_flag(name: str, attr: str, help: str, context: Context = ALL,
              override: Override = Override.FILEINFO) -> None:
    def fn(cmd: CmdParms, conf: CoreDirConfig, on: bool) -> None:
        setattr(conf, attr, on)
    fn.__name__ = attr
    core.directive(name, args=ArgSpec.FLAG, context=context, override=override, help=help)(fn)


_dir_flag("EnableSendfile", "enable_sendfile", "Controls whether sendfile may be used to "
          "transmit files", context=ALL)
_dir_flag("EnableMMAP", "enable_mmap", "Controls whether memory-mapping may be used to read "
          "files", context=ALL)
_dir_flag("ContentDigest", "content_digest", "whether or not to send a Content-MD5 header with "
          "each request", context=ACCESS, override=Override.OPTIONS)


@core.directive("HostnameLookups", args=ArgSpec.TAKE1, context=ACCESS,
                syntax="HostnameLookups On|Off|Double",
                help="\"on\" to enable, \"off\" to disable reverse DNS lookups, or \"double\" "
                     "to enable double-reverse DNS lookups")
def hostname_lookups(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    lv = v.lower()
    if lv not in ("on", "off", "double"):
        raise DirectiveError("parameter must be 'on', 'off', or 'double'")
    conf.hostname_lookups = lv


@core.directive("UseCanonicalName", args=ArgSpec.TAKE1, context=ACCESS,
                override=Override.OPTIONS, syntax="UseCanonicalName On|Off|DNS",
                help="How to work out the ServerName : Port when constructing URLs")
def use_canonical_name(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    lv = v.lower()
    if lv not in ("on", "off", "dns"):
        raise DirectiveError("parameter must be 'on', 'off', or 'dns'")
    conf.use_canonical_name = lv


@core.directive("ServerSignature", args=ArgSpec.TAKE1, context=ALL, override=Override.ALL,
                syntax="ServerSignature On|Off|EMail",
                help="En-/disable server signature (on|off|email)")
def server_signature(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    lv = v.lower()
    if lv not in ("on", "off", "email"):
        raise DirectiveError("ServerSignature: use one of: off | on | email")
    conf.server_signature = lv


@core.directive("LimitRequestBody", args=ArgSpec.TAKE1, context=ALL, override=Override.ALL,
                help="Limit (in bytes) on maximum size of request message body")
def limit_request_body(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    try:
        n = int(v)
    except ValueError:
        raise DirectiveError("LimitRequestBody argument is not parsable.") from None
    if n < 0 or n > 2147483647:
        raise DirectiveError("LimitRequestBody argument is not parsable.")
    conf.limit_req_body = n


@core.directive("LimitXMLRequestBody", args=ArgSpec.TAKE1, context=ALL,
                override=Override.ALL, help="Limit (in bytes) on maximum size of an XML-based "
                "request body")
def limit_xml_request_body(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    try:
        conf.limit_xml_req_body = int(v)
    except ValueError:
        raise DirectiveError("LimitXMLRequestBody argument is not parsable.") from None


@core.directive("MaxRanges", args=ArgSpec.TAKE1, context=ALL, override=Override.NONE,
                syntax="MaxRanges default | unlimited | none | number-of-ranges",
                help="Maximum number of Ranges in a request before returning the entire "
                     "resource, or 0 for unlimited")
def max_ranges(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    lv = v.lower()
    table = {"none": -1, "default": 200, "unlimited": 0}
    if lv in table:
        conf.max_ranges = table[lv]
        return
    try:
        n = int(v)
    except ValueError:
        raise DirectiveError("MaxRanges requires 'none', 'default', 'unlimited' or a "
                             "positive integer") from None
    if n <= 0:
        raise DirectiveError("MaxRanges requires 'none', 'default', 'unlimited' or a "
                             "positive integer")
    conf.max_ranges = n


@core.directive("SetOutputFilter", args=ArgSpec.TAKE1, context=ALL, override=Override.FILEINFO,
                help="filter (or ; delimited list of filters) to be run on the request content")
def set_output_filter(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    conf.output_filters = [f for f in v.split(";") if f]


@core.directive("SetInputFilter", args=ArgSpec.TAKE1, context=ALL, override=Override.FILEINFO,
                help="filter (or ; delimited list of filters) to be run on the request body")
def set_input_filter(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    conf.input_filters = [f for f in v.split(";") if f]


@core.directive("AddOutputFilterByType", args=ArgSpec.ITERATE2, context=ALL,
                override=Override.FILEINFO,
                help="output filter name followed by one or more content-types")
def add_output_filter_by_type(cmd: CmdParms, conf: CoreDirConfig, filters: str, ctype: str) -> None:
    cur = dict(conf.ct_output_filters or {})
    cur.setdefault(ctype.lower(), [])
    cur[ctype.lower()] = cur[ctype.lower()] + [f for f in filters.split(";") if f]
    conf.ct_output_filters = cur


@core.directive("LogLevel", args=ArgSpec.ITERATE, context=RSRC,
                syntax="LogLevel [module:]level",
                help="Level of verbosity in error logging")
def log_level(cmd: CmdParms, conf: Any, v: str) -> None:
    if ":" in v:
        mod, _, lvl = v.partition(":")
        n = parse_level(lvl)
        if n is None:
            raise DirectiveError("LogLevel requires level keyword: one of emerg/alert/crit/"
                                 "error/warn/notice/info/debug")
        cmd.tree.extra.setdefault("module_loglevels", {})[mod.lower()] = n
        return
    n = parse_level(v)
    if n is None:
        raise DirectiveError("LogLevel requires level keyword: one of emerg/alert/crit/error/"
                             "warn/notice/info/debug")
    cmd.server.loglevel = n


@core.directive("ErrorLog", args=ArgSpec.TAKE1, context=RSRC,
                help="The filename of the error log")
def error_log(cmd: CmdParms, conf: Any, v: str) -> None:
    cmd.server.error_fname = v


# --- 2.2 core authentication hooks' directives -------------------------------------
@core.directive("AuthType", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                override=Override.AUTHCFG, help="An HTTP authorization type (e.g., \"Basic\")")
def auth_type(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    conf.auth_type = None if v.lower() == "none" else v


@core.directive("AuthName", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                override=Override.AUTHCFG, help="The authentication realm (e.g. \"Members Only\")")
def auth_name(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    conf.auth_name = v


@core.directive("Satisfy", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                override=Override.AUTHCFG, syntax="Satisfy Any|All",
                help="access policy if both allow and require used ('all' or 'any')")
def satisfy(cmd: CmdParms, conf: CoreDirConfig, v: str) -> None:
    lv = v.lower()
    if lv not in ("all", "any"):
        raise DirectiveError("Satisfy either 'any' or 'all'.")
    conf.satisfy = lv


@core.directive("Require", args=ArgSpec.RAW_ARGS, context=Context.DIR_HTACCESS,
                override=Override.AUTHCFG, syntax="Require entity-name [entity-name] ...",
                help="Selects which authenticated users or groups may access a protected space")
def require(cmd: CmdParms, conf: CoreDirConfig, raw: str) -> None:
    cur = list(conf.requires or [])
    methods = cmd.limited
    if cmd.limit_except and methods is not None:
        methods = frozenset({"__except__", *methods})
    cur.append((methods, raw.strip()))
    conf.requires = cur
    name, rest = ([*raw.split(None, 1), ""])[:2]
    if name.lower() == "not":
        name, rest = ([*rest.split(None, 1), ""])[:2]
    prov = cmd.tree.providers.get(("authz", name.lower()))
    if getattr(prov, "parse_at_directive", False):
        prov.parse(rest.strip())        # 2.4: a bad line is an error at its own line


@core.directive("PidFile", args=ArgSpec.TAKE1, context=SERVER,
                help="A file for logging the server process ID")
def pid_file(cmd: CmdParms, conf: Any, path: str) -> None:
    cmd.tree.extra["pidfile"] = path
