"""mod_authn_alias: <AuthnProviderAlias baseProvider alias> ... </AuthnProviderAlias>
registers ``alias`` as an authn provider that runs ``baseProvider`` with the
section's directives (AuthUserFile, AuthDBMUserFile, AuthLDAPURL ...) merged over the
request's configuration, so one location can check several files in turn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.tree import split_args
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.aaa.common import maybe_await

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms
    from featherd.core.request import Request

authn_alias = Module("authn_alias_module", "mod_authn_alias.c",
                     description="Provides the ability to create extended authentication "
                                 "providers based on actual providers")


class AliasProvider:
    """The provider registered under the alias name."""

    def __init__(self, base_name: str, base: Any, confs: list[Any]) -> None:
        self.base_name = base_name
        self.base = base
        self.confs = confs
        self._merged: dict[int, tuple[list[Any], list[Any]]] = {}
        if getattr(base, "check_password", None) is None:
            self.check_password = None  # type: ignore[assignment]
        if getattr(base, "get_realm_hash", None) is None:
            self.get_realm_hash = None  # type: ignore[assignment]

    def _confs(self, r: Request) -> list[Any]:
        orig = r.per_dir_config
        hit = self._merged.get(id(orig))
        if hit is None or hit[0] is not orig:
            if len(self._merged) > 1000:
                self._merged.clear()
            hit = (orig, r.tree.merge_dir_confs(orig, self.confs))
            self._merged[id(orig)] = hit
        return hit[1]

    async def check_password(self, r: Request, user: str, password: str) -> int:
        orig = r.per_dir_config
        r.per_dir_config = self._confs(r)
        try:
            return int(await maybe_await(self.base.check_password(r, user, password)))
        finally:
            r.per_dir_config = orig

    async def get_realm_hash(self, r: Request, user: str, realm: str) -> Any:
        orig = r.per_dir_config
        r.per_dir_config = self._confs(r)
        try:
            return await maybe_await(self.base.get_realm_hash(r, user, realm))
        finally:
            r.per_dir_config = orig


@authn_alias.directive("AuthnProviderAlias", args=ArgSpec.RAW_ARGS, context=Context.SERVER,
                       override=Override.NONE, container=True,
                       syntax="<AuthnProviderAlias baseProvider Alias> ... "
                              "</AuthnProviderAlias>",
                       help="Container for authentication directives grouped under a provider "
                            "alias")
def authn_provider_alias(cmd: CmdParms, conf: Any, raw: str) -> None:
    words = split_args(raw)
    if len(words) < 2 or not words[0] or not words[1]:
        raise DirectiveError("<AuthnProviderAlias> directive requires additional arguments")
    base_name, alias = words[0], words[1]
    if base_name.lower() == alias.lower():
        raise DirectiveError("The alias provider name must be different from the base "
                             "provider name.")
    if ("authn", alias) in cmd.tree.providers:
        raise DirectiveError(f"The alias provider {alias} has already be registered previously "
                             "as either a base provider or an alias provider.")
    base = cmd.tree.providers.get(("authn", base_name))
    if base is None:
        raise DirectiveError(f"Unknown Authn provider: {base_name}")
    confs = cmd.tree.new_dir_confs(None)
    assert cmd.node is not None and cmd.node.children is not None
    cmd.child(where=Context.DIRECTORY, dir_confs=confs, path=None,
              override=Override.ALL).walk(cmd.node.children)
    cmd.tree.providers[("authn", alias)] = AliasProvider(base_name, base, confs)
