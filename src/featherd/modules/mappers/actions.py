"""mod_actions: run CGI scripts for media types, handlers or methods, as in Apache 2.2.

``Action type-or-handler /cgi-bin/script [virtual]``: a request whose handler (or,
without one, whose content type) is ``type-or-handler`` is internally redirected to
``/cgi-bin/script`` followed by the requested URI (and its query string), so the script
gets the document as ``PATH_INFO`` and its file as ``PATH_TRANSLATED``, and the handler
name as ``REDIRECT_HANDLER``. Without ``virtual`` the requested file must exist (404,
"File does not exist: ..."); with it, it need not (actions for virtual locations).

``Script method /cgi-bin/script``: the same for requests with that method; for GET only
when there is a query string. An Action for the request beats its Script. A new method
named by Script is accepted by the server from then on (as ap_method_register); TRACE
is refused. Scripts that do not answer could loop: a request already redirected twice
is not redirected again.

The handler runs after every other module's (APR_HOOK_LAST), so that a real handler for
the same name wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET, unset_field
from featherd.config.parser import CmdParms
from featherd.core.hooks import DECLINED, LAST, OK
from featherd.core.module import Module
from featherd.errors import DirectiveError

if TYPE_CHECKING:
    from featherd.core.request import Request

ERROR = 3


@dataclass(slots=True)
class ActionDirConfig:
    """action_dir_config: types (type -> (virtual, script)), scripted (method -> script)."""

    action_types: Any = unset_field("update")
    scripted: Any = unset_field("update")


actions = Module("actions_module", "mod_actions.c", dir_config=ActionDirConfig,
                 description="Provides for executing CGI scripts based on media type or "
                             "request method.")
actions_module = actions


@actions.directive("Action", args=ArgSpec.TAKE23, context=Context.ALL_DIR,
                   override=Override.FILEINFO,
                   syntax="Action action-type cgi-script [virtual]",
                   help="a media type followed by a script name")
def add_action(cmd: CmdParms, conf: ActionDirConfig, type_: str, script: str,
               option: str | None) -> None:
    if option is not None and option.lower() != "virtual":
        raise DirectiveError(f"unrecognized option '{option}'")
    conf.action_types = {**(conf.action_types or {}), type_: (option is not None, script)}


@actions.directive("Script", args=ArgSpec.TAKE2, context=Context.ACCESS,
                   syntax="Script method cgi-script",
                   help="a method followed by a script name")
def set_script(cmd: CmdParms, conf: ActionDirConfig, method: str, script: str) -> None:
    from featherd.core.request import KNOWN_METHODS

    if method == "TRACE":
        raise DirectiveError("TRACE not allowed for Script")
    if method not in KNOWN_METHODS:
        # ap_method_register: the server accepts the new method from now on
        methods = cmd.tree.extra.setdefault("methods", set())
        methods.add(method)
    conf.scripted = {**(conf.scripted or {}), method: script}


def _conf(r: Request) -> ActionDirConfig:
    return r.per_dir_config[actions.index]  # type: ignore[no-any-return]


@actions.hook("handler", order=LAST, needs=True)
async def action_handler(r: Request) -> int:
    from featherd.core.http_request import internal_redirect
    from featherd.modules.mappers.rewrite.util import escape_uri

    conf = _conf(r)
    types = conf.action_types if conf.action_types is not UNSET else {}
    scripted = conf.scripted if conf.scripted is not UNSET else {}
    if not types and not scripted:
        return DECLINED
    r.allowed_methods.update(scripted)
    if r.method in ("GET", "HEAD"):
        script = scripted.get("GET") if r.args is not None else None
    else:
        script = scripted.get(r.method)
    # scripts that do not answer could bring us back here
    if script is not None and r.prev is not None and r.prev.prev is not None:
        return DECLINED
    action = r.handler or (r.content_type.split(";", 1)[0].strip()
                           if r.content_type else None)
    entry = types.get(action) if action else None
    if entry is not None:
        virtual, script = entry
        if not virtual and r.finfo is None:
            r.log_error(ERROR, f"File does not exist: {r.filename}")
            return 404
        r.subprocess_env["HANDLER"] = action  # type: ignore[assignment]
    if script is None:
        return DECLINED
    target = script + escape_uri(r.uri)
    if r.args is not None:
        target += "?" + r.args
    await internal_redirect(r, target)
    return OK


__all__ = ["actions", "actions_module"]
