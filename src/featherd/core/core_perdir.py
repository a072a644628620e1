"""The core's per-directory directives: Options, AllowOverride, DefaultType, ForceType,
SetHandler, AddDefaultCharset, ErrorDocument, AcceptPathInfo, FileETag,
EnableSendfile, EnableMMAP, ContentDigest, HostnameLookups, UseCanonicalName,
ServerSignature, LimitRequestBody, LimitXMLRequestBody, MaxRanges and the filter
settings (SetOutputFilter, SetInputFilter, AddOutputFilterByType).

Rows of the core module, registered on :data:`~featherd.core.core_module.core` when
:mod:`featherd.core.core_module` imports this file (import that module, not this one).
"""

from __future__ import annotations

import re

from featherd.config.directives import OVERRIDE_NAMES, ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.config.parser import CmdParms
from featherd.core.core_module import (
    ACCESS,
    ALL,
    ALL_OPTIONS,
    ETAG_ALL,
    OPT_ALL,
    CoreDirConfig,
    core,
)
from featherd.errors import DirectiveError

_OPT_NAMES = {o.lower(): o for o in ALL_OPTIONS}


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
