"""mod_example for featherd: the counterpart of Apache's modules/examples/mod_example_hooks.c.

Install this package next to featherd (``pip install -e examples/featherd-example``) and
load it like a shared module::

    LoadModule example_module modules/mod_example.so

    Example                      # anywhere: records where it was seen
    ExampleMessage "hello"       # anywhere: a per-directory value, merged child-over-parent
    <Location /example>
        SetHandler example-handler
    </Location>

``LoadModule`` finds the entry point ``example_module`` of the ``featherd.modules`` group
(see pyproject.toml); the file name is kept for compatibility and not opened.

What it shows:

* directive rows (``Example``, ``ExampleMessage``) with Apache's context/override rules;
* per-directory and per-server records whose create and merge callbacks note where each
  record came from, so the page can show the merge chain in effect;
* a hook at every phase, each appending its name to a per-request trace: post_config and
  child_init (start-up), pre_connection, post_read_request, translate_name,
  map_to_storage, header_parser, access_checker, check_user_id and auth_checker (these
  two run only where authentication is required: ``AuthType Example`` +
  ``Require valid-user`` lets everyone in as user "example", for demonstration),
  type_checker, fixups, insert_filter, handler, log_transaction (after the response: it
  logs the whole trace at LogLevel debug and counts itself for the next page);
* an authn provider, ``example`` (``AuthBasicProvider example``: user "example",
  password "example"), that mod_auth_basic looks up by name;
* an output filter (``EXAMPLE_TRACE``, inserted by the insert_filter hook for the
  example handler) that counts the bytes going through it;
* a content handler, ``example-handler``, that answers with an HTML page listing what ran,
  in order, and the configuration in effect.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any

from featherd.api import (
    AUTH_DENIED,
    AUTH_GRANTED,
    AUTH_USER_NOT_FOUND,
    DEBUG,
    DECLINED,
    EOS,
    FTYPE_CONTENT_SET,
    OK,
    REALLY_FIRST,
    UNSET,
    ArgSpec,
    CmdParms,
    Context,
    Module,
    Override,
    Request,
    add_output_filter,
    auth_type,
    bucket_len,
    merge_records,
    pass_brigade,
    requires_for,
    unset_field,
)

HANDLER = "example-handler"
FILTER = "EXAMPLE_TRACE"
_TRACE = "example_module.trace"        # key in the initial request's ctx
_CONN_TRACE = "example_module.trace"   # key in conn.notes


# --- configuration records -------------------------------------------------------------
@dataclass(slots=True)
class ExampleDirConfig:
    """Per-directory record. ``origin`` says which section created it; merging joins the
    origins, so a merged record knows the chain it came from."""

    origin: tuple[str, ...] = ()
    example: Any = UNSET                      # "file:line" of the Example that applies
    message: Any = UNSET                      # ExampleMessage
    examples_seen: Any = unset_field("append")  # every Example on the way, in merge order


@dataclass(slots=True)
class ExampleServerConfig:
    origin: tuple[str, ...] = ()
    example_lines: Any = unset_field("append")  # Example directives in this server


class ExampleModule(Module):
    """Apache's create/merge callbacks are methods of the Module; this one records them."""

    def create_dir_config(self, path: str | None) -> ExampleDirConfig:
        return ExampleDirConfig(origin=(path or "(server defaults)",))

    def merge_dir_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        out = merge_records(base, new)        # UNSET fields inherit; "append" joins lists
        out.origin = base.origin + new.origin
        return out

    def create_server_config(self) -> ExampleServerConfig:
        return ExampleServerConfig(origin=("server",))

    def merge_server_config(self, base: Any, new: Any) -> Any:
        if base is None or new is None:
            return new if base is None else base
        out = merge_records(base, new)
        out.origin = ("main server", "virtual host")
        return out


example_module = ExampleModule(
    "example_module", "mod_example.c", dir_config=ExampleDirConfig,
    server_config=ExampleServerConfig,
    description="Demonstrates the featherd module API: a directive, every hook, a handler")


# --- directives ---------------------------------------------------------------------------
@example_module.directive("Example", args=ArgSpec.NO_ARGS, context=Context.ALL_DIR,
                          override=Override.OPTIONS, syntax="Example",
                          help="Example directive - no arguments")
def cmd_example(cmd: CmdParms, conf: ExampleDirConfig) -> None:
    """Where it appears, the per-directory record notes the place; the server record of
    the enclosing server lists it too."""
    where = f"{os.path.basename(cmd.filename)}:{cmd.line}"
    conf.example = where
    conf.examples_seen = [*(conf.examples_seen or []), where]
    sconf = cmd.server.module_config[example_module.index]
    sconf.example_lines = [*(sconf.example_lines or []), where]


@example_module.directive("ExampleMessage", args=ArgSpec.TAKE1, context=Context.ALL_DIR,
                          override=Override.OPTIONS, syntax="ExampleMessage text",
                          help="A message shown by the example-handler page")
def cmd_example_message(cmd: CmdParms, conf: ExampleDirConfig, text: str) -> None:
    conf.message = text


# --- the trace ----------------------------------------------------------------------------
def trace_of(r: Request) -> list[str]:
    """The trace lives on the initial request, so sub-requests and internal redirects add
    to the same list."""
    top = r.initial
    t = top.ctx.get(_TRACE)
    if t is None:
        t = top.ctx[_TRACE] = []
    return t


def record(r: Request, phase: str) -> None:
    if r.main is not None:
        phase += f" (sub-request {r.uri})"
    elif r.prev is not None:
        phase += f" (internal redirect to {r.uri})"
    trace_of(r).append(phase)


def state(tree: Any) -> dict[str, Any]:
    """Process-wide notes of this module, kept on the configuration tree (never on the
    class: a restart builds a new tree)."""
    st = tree.extra.get("example_module")
    if st is None:
        st = tree.extra["example_module"] = {"startup": [], "logged": 0, "last": None}
    return st


# --- hooks, in the order featherd runs them ------------------------------------------------
# The request-phase tracers are registered REALLY_FIRST: in a RUN_FIRST phase a module that
# answers (mod_alias in translate_name, mod_authz_user in auth_checker...) ends the phase,
# and a tracer ordered after it would never see the phase. The handler stays MIDDLE.
@example_module.hook("post_config")
def x_post_config(tree: Any) -> int:
    state(tree)["startup"].append("post_config")
    return OK


@example_module.hook("child_init")
def x_child_init(tree: Any, loop: Any) -> None:
    state(tree)["startup"].append(f"child_init (pid {os.getpid()})")


@example_module.hook("child_exit")
def x_child_exit(tree: Any) -> None:
    st = state(tree)
    st["startup"].append("child_exit")


@example_module.hook("pre_connection")
def x_pre_connection(conn: Any) -> int:
    conn.notes[_CONN_TRACE] = f"pre_connection (connection {conn.id} from {conn.client_ip})"
    return OK


@example_module.hook("post_read_request", order=REALLY_FIRST)
def x_post_read_request(r: Request) -> int:
    first = r.connection.notes.get(_CONN_TRACE)
    if first:
        trace_of(r).append(first)
    record(r, "post_read_request")
    return DECLINED


@example_module.hook("translate_name", order=REALLY_FIRST)
def x_translate_name(r: Request) -> int:
    record(r, "translate_name")
    return DECLINED            # RUN_FIRST: let the core map the URI to a file


@example_module.hook("map_to_storage", order=REALLY_FIRST)
def x_map_to_storage(r: Request) -> int:
    record(r, "map_to_storage")
    return DECLINED


@example_module.hook("header_parser", order=REALLY_FIRST)
def x_header_parser(r: Request) -> int:
    record(r, "header_parser")
    return DECLINED


@example_module.hook("access_checker", order=REALLY_FIRST)
def x_access_checker(r: Request) -> int:
    record(r, "access_checker")
    return DECLINED


@example_module.hook("check_user_id", order=REALLY_FIRST)
def x_check_user_id(r: Request) -> int:
    """Runs only where a Require applies. ``AuthType Example`` lets everyone in as user
    "example" (a demonstration of what this phase decides: who the user is)."""
    record(r, "check_user_id")
    if (auth_type(r) or "").lower() != "example":
        return DECLINED
    r.user = "example"
    r.ap_auth_type = "Example"
    return OK


@example_module.hook("auth_checker", order=REALLY_FIRST)
def x_auth_checker(r: Request) -> int:
    """Is the user allowed? For AuthType Example: ``Require valid-user`` or
    ``Require user example``."""
    record(r, "auth_checker")
    if (auth_type(r) or "").lower() != "example":
        return DECLINED
    for line in requires_for(r):
        words = line.split()
        if words and words[0].lower() == "valid-user":
            return OK
        if words and words[0].lower() == "user" and r.user in words[1:]:
            return OK
    return DECLINED


@example_module.hook("type_checker", order=REALLY_FIRST)
def x_type_checker(r: Request) -> int:
    record(r, "type_checker")
    return DECLINED


@example_module.hook("fixups", order=REALLY_FIRST)
def x_fixups(r: Request) -> int:
    record(r, "fixups")
    return DECLINED


@example_module.hook("insert_filter", order=REALLY_FIRST)
def x_insert_filter(r: Request) -> None:
    record(r, "insert_filter")
    if r.handler == HANDLER:
        add_output_filter(r, FILTER)


@example_module.hook("handler")
def x_handler(r: Request) -> int:
    if r.handler != HANDLER:
        return DECLINED
    record(r, "handler")
    body = render_page(r).encode("utf-8")
    r.content_type = "text/html; charset=utf-8"
    pass_brigade(r, [body, EOS])
    return OK


@example_module.hook("log_transaction", order=REALLY_FIRST)
def x_log_transaction(r: Request) -> int:
    record(r, "log_transaction")
    st = state(r.tree)
    st["logged"] += 1
    st["last"] = r.the_request
    r.log_error(DEBUG, f"example_module: {r.the_request}: " + ", ".join(trace_of(r)))
    return DECLINED


# --- the output filter --------------------------------------------------------------------
@example_module.output_filter(FILTER, FTYPE_CONTENT_SET)
class TraceFilter:
    """Counts the body bytes and records itself in the trace when EOS passes."""

    def __init__(self, r: Request) -> None:
        self.seen = 0

    def filter(self, r: Request, bb: list[Any]) -> list[Any]:
        out: list[Any] = []
        for b in bb:
            if b is EOS:
                record(r, f"output filter {FILTER} ({self.seen} bytes)")
                out.append(f"<!-- {FILTER}: {self.seen} bytes -->\n".encode())
            else:
                self.seen += bucket_len(b)
            out.append(b)
        return out


# --- a provider ---------------------------------------------------------------------------
class ExampleAuthn:
    """An "authn" provider: ``AuthBasicProvider example`` asks it to check passwords (the
    group's contract: ``check_password(r, user, password)`` -> AUTH_*). For demonstration
    it knows one user, "example", whose password is "example"."""

    def check_password(self, r: Request, user: str, password: str) -> int:
        record(r, f"authn provider example (user {user})")
        if user != "example":
            return AUTH_USER_NOT_FOUND
        return AUTH_GRANTED if password == "example" else AUTH_DENIED


example_module.provider("authn", "example", ExampleAuthn())


# --- the page -----------------------------------------------------------------------------
def _show(v: Any, default: str = "(not set)") -> str:
    return html.escape(default if v is UNSET or v is None else str(v))


def render_page(r: Request) -> str:
    d: ExampleDirConfig = r.dconf(example_module)
    s: ExampleServerConfig = r.sconf(example_module)
    st = state(r.tree)
    items = "".join(f"<li>{html.escape(p)}</li>\n" for p in trace_of(r))
    startup = "".join(f"<li>{html.escape(p)}</li>\n" for p in st["startup"])
    last = (f' (last: &quot;{html.escape(st["last"])}&quot;)' if st["last"] else "")
    return f"""<!DOCTYPE html>
<html><head><title>mod_example</title></head>
<body>
<h1>mod_example</h1>
<p>The hooks of mod_example ran in this order for this request:</p>
<ol id="trace">
{items}</ol>
<p>log_transaction runs after the response is sent; in this process it has run
<span id="logged">{st["logged"]}</span> times{last}.</p>
<h2>Start-up</h2>
<ol id="startup">
{startup}</ol>
<h2>Configuration in effect</h2>
<table>
<tr><th>per-directory record</th><td id="dir-origin">{_show(" + ".join(d.origin))}</td></tr>
<tr><th>Example</th><td id="dir-example">{_show(d.example)}</td></tr>
<tr><th>Example directives merged</th><td id="dir-examples">{_show(", ".join(d.examples_seen or []) or None)}</td></tr>
<tr><th>ExampleMessage</th><td id="dir-message">{_show(d.message)}</td></tr>
<tr><th>server record</th><td id="server-origin">{_show(" + ".join(s.origin))}</td></tr>
<tr><th>Example in this server</th><td id="server-examples">{_show(", ".join(s.example_lines or []) or None)}</td></tr>
<tr><th>user</th><td id="user">{_show(r.user, "(none)")}</td></tr>
</table>
</body></html>
"""


__all__ = ["ExampleAuthn", "ExampleDirConfig", "ExampleModule", "ExampleServerConfig",
           "example_module"]
