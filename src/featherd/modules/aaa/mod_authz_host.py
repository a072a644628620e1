"""mod_authz_host: Order, Allow and Deny (2.2; 2.4's mod_access_compat), and 2.4's
``Require ip``, ``Require host`` and ``Require local`` providers.

As in Apache, a section that uses any of Order/Allow/Deny replaces its parent's whole
set (the module has no merge function: "default is to override"), entries made inside
<Limit>/<LimitExcept> apply to those methods only, and host names are matched after a
double reverse lookup of the client's address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.core.access import satisfies, some_auth_required
from featherd.core.hooks import OK
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.aaa.common import (
    AUTHZ_DENIED,
    AUTHZ_GRANTED,
    ERROR,
    in_domain,
    is_local,
    limit_spec,
    method_applies,
    remote_host_double,
)
from featherd.util.ipsubnet import BadIP, Subnet, parse_subnet

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

DENY_THEN_ALLOW = 0
ALLOW_THEN_DENY = 1
MUTUAL_FAILURE = 2

T_ENV, T_NENV, T_ALL, T_IP, T_HOST = range(5)


@dataclass(slots=True)
class AllowDeny:
    limited: tuple[frozenset[str], bool] | None
    type: int
    value: Any        # env name, Subnet or host/domain


@dataclass(slots=True)
class HostDirConfig:
    touched: bool = False
    orders: list[tuple[Any, int]] = field(default_factory=list)
    allows: list[AllowDeny] = field(default_factory=list)
    denys: list[AllowDeny] = field(default_factory=list)
    has_host: bool = False


class AuthzHostModule(Module):
    def merge_dir_config(self, base: Any, new: Any) -> Any:
        # no merger in Apache: a section with its own rules overrides the parent's
        return new if new.touched else base


authz_host = AuthzHostModule("authz_host_module", "mod_authz_host.c", dir_config=HostDirConfig,
                             description="Group authorizations based on host (name or IP "
                                         "address)")


@authz_host.directive("Order", args=ArgSpec.TAKE1, context=Context.DIR_HTACCESS,
                      override=Override.LIMIT, syntax="Order ordering",
                      help="'allow,deny', 'deny,allow', or 'mutual-failure'")
def order(cmd: CmdParms, conf: HostDirConfig, arg: str) -> None:
    a = arg.lower()
    if a == "allow,deny":
        o = ALLOW_THEN_DENY
    elif a == "deny,allow":
        o = DENY_THEN_ALLOW
    elif a == "mutual-failure":
        o = MUTUAL_FAILURE
    else:
        raise DirectiveError("unknown order")
    conf.touched = True
    conf.orders = [*conf.orders, (limit_spec(cmd), o)]


def _entry(cmd: CmdParms, conf: HostDirConfig, frm: str, where: str) -> AllowDeny:
    if frm.lower() != "from":
        raise DirectiveError("allow and deny must be followed by 'from'")
    lw = where.lower()
    spec = limit_spec(cmd)
    if lw.startswith("env=!"):
        return AllowDeny(spec, T_NENV, where[5:])
    if lw.startswith("env="):
        return AllowDeny(spec, T_ENV, where[4:])
    if lw == "all":
        return AllowDeny(spec, T_ALL, None)
    if "/" in where:
        try:
            return AllowDeny(spec, T_IP, parse_subnet(where))
        except BadIP as e:
            if e.code == "EINVAL":
                raise DirectiveError("An IP address was expected") from None
            raise DirectiveError(e.text()) from None
    try:
        return AllowDeny(spec, T_IP, Subnet(where))
    except BadIP as e:
        if e.code != "EINVAL":
            raise DirectiveError(e.text()) from None
    conf.has_host = True
    return AllowDeny(spec, T_HOST, where)


@authz_host.directive("Allow", args=ArgSpec.ITERATE2, context=Context.DIR_HTACCESS,
                      override=Override.LIMIT,
                      syntax="Allow from all|host|env=[!]env-variable [host|env=[!]env-variable] ...",
                      help="'from' followed by hostnames or IP-address wildcards")
def allow(cmd: CmdParms, conf: HostDirConfig, frm: str, where: str) -> None:
    e = _entry(cmd, conf, frm, where)
    conf.touched = True
    conf.allows = [*conf.allows, e]


@authz_host.directive("Deny", args=ArgSpec.ITERATE2, context=Context.DIR_HTACCESS,
                      override=Override.LIMIT,
                      syntax="Deny from all|host|env=[!]env-variable [host|env=[!]env-variable] ...",
                      help="'from' followed by hostnames or IP-address wildcards")
def deny(cmd: CmdParms, conf: HostDirConfig, frm: str, where: str) -> None:
    e = _entry(cmd, conf, frm, where)
    conf.touched = True
    conf.denys = [*conf.denys, e]


async def _find(r: Request, entries: list[AllowDeny], method: str) -> bool:
    gothost = 0
    name: str | None = None
    for e in entries:
        if not method_applies(e.limited, method):
            continue
        t = e.type
        if t == T_ALL:
            return True
        if t == T_IP:
            if e.value.test(r.connection.client_ip):
                return True
        elif t == T_ENV:
            if e.value in r.subprocess_env:
                return True
        elif t == T_NENV:
            if e.value not in r.subprocess_env:
                return True
        elif t == T_HOST:
            if not gothost:
                name = await remote_host_double(r)
                gothost = 2 if name else 1
            if gothost == 2 and name is not None and in_domain(e.value, name):
                return True
    return False


def _order_for(conf: HostDirConfig, method: str) -> int:
    o = DENY_THEN_ALLOW
    for spec, v in conf.orders:
        if method_applies(spec, method):
            o = v
    return o


def denied_log(r: Request) -> None:
    r.log_error(ERROR, "client denied by server configuration: "
                + (r.filename if r.filename else "uri " + r.uri))


@authz_host.hook("access_checker", needs=True)
async def check_dir_access(r: Request) -> int:
    conf: HostDirConfig | None = r.per_dir_config[authz_host.index]
    if conf is None or not conf.touched:
        return OK
    m = r.method
    o = _order_for(conf, m)
    ret = OK
    if o == ALLOW_THEN_DENY:
        ret = 403
        if await _find(r, conf.allows, m):
            ret = OK
        if await _find(r, conf.denys, m):
            ret = 403
    elif o == DENY_THEN_ALLOW:
        if await _find(r, conf.denys, m):
            ret = 403
        if await _find(r, conf.allows, m):
            ret = OK
    else:
        if await _find(r, conf.allows, m) and not await _find(r, conf.denys, m):
            ret = OK
        else:
            ret = 403
    if ret == 403 and (satisfies(r) != "any" or not some_auth_required(r)):
        denied_log(r)
    return ret


# --- 2.4 Require ip / host / local -----------------------------------------------------------
class IPProvider:
    def parse(self, args: str) -> list[Subnet]:
        out = []
        words = args.split()
        if not words:
            raise DirectiveError("'Require ip' requires an argument")
        for w in words:
            try:
                out.append(parse_subnet(w))
            except BadIP:
                raise DirectiveError(f"ip address '{w}' appears to be invalid") from None
        return out

    def check(self, r: Request, args: str, parsed: Any) -> int:
        ip = r.connection.client_ip
        for s in parsed:
            if s.test(ip):
                return AUTHZ_GRANTED
        return AUTHZ_DENIED


class HostProvider:
    def parse(self, args: str) -> list[str]:
        words = args.split()
        if not words:
            raise DirectiveError("'Require host' requires an argument")
        return words

    async def check(self, r: Request, args: str, parsed: Any) -> int:
        name = await remote_host_double(r)
        if name is None:
            return AUTHZ_DENIED
        for d in parsed:
            if in_domain(d, name):
                return AUTHZ_GRANTED
        return AUTHZ_DENIED


class LocalProvider:
    def parse(self, args: str) -> None:
        if args.strip():
            raise DirectiveError("'Require local' does not take an argument")

    def check(self, r: Request, args: str, parsed: Any) -> int:
        return AUTHZ_GRANTED if is_local(r) else AUTHZ_DENIED


authz_host.provider("authz", "ip", IPProvider())
authz_host.provider("authz", "host", HostProvider())
authz_host.provider("authz", "local", LocalProvider())
