"""Hooks.prune: a module's hook runs only where the configuration can make it act."""

from __future__ import annotations

from pathlib import Path

import pytest

from featherd.config.directives import Override
from featherd.core.config import load_config
from featherd.modules import builtin_modules


def _tree(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    conf = tmp_path / "httpd.conf"
    conf.write_text(f"Listen 127.0.0.1:1\nDocumentRoot {tmp_path}\nErrorLog /dev/null\n{body}")
    return load_config(str(conf), builtin_modules(), server_root=str(tmp_path))


def _running(tree, hook: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {f"{f.__module__.rsplit('.', 1)[-1]}.{f.__name__}" for f, _ in tree.hooks[hook].funcs}


ROOT_NONE = "<Directory />\nAllowOverride None\n</Directory>\n"


def test_unconfigured_modules_leave_the_request_path(tmp_path: Path) -> None:
    t = _tree(tmp_path, ROOT_NONE)
    fix = _running(t, "fixups")
    assert "speling.check_speling" not in fix
    assert "mod_env.fixup_env" not in fix
    assert "mod_headers.fixup_request_headers" not in fix
    assert "hooks.hook_fixup" not in fix            # mod_rewrite
    assert "handlers.core_fixups" in fix            # no needs: always
    assert _running(t, "translate_name") == {"handlers.core_translate"}
    # mod_info and -L still see every registration
    assert "speling_module" in t.hooks["fixups"].modules()


def test_a_directive_in_the_configuration_brings_its_hooks_back(tmp_path: Path) -> None:
    t = _tree(tmp_path, ROOT_NONE + "CheckSpelling On\nRewriteEngine On\nAlias /x /tmp\n")
    assert "speling.check_speling" in _running(t, "fixups")
    assert {"hooks.hook_uri2file", "mod_alias.translate_alias_redir"} <= \
        _running(t, "translate_name")
    assert "mod_env.fixup_env" not in _running(t, "fixups")


def test_a_directive_first_read_from_htaccess_brings_its_hooks_back(tmp_path: Path) -> None:
    # 2.2's default AllowOverride All: nothing is assumed until an .htaccess file says so
    t = _tree(tmp_path, "")
    assert "speling.check_speling" not in _running(t, "fixups")
    from featherd.config.directives import Context
    from featherd.config.parser import CmdParms, process_nodes
    from featherd.config.tree import parse_text

    confs = t.new_dir_confs(str(tmp_path) + "/")
    cmd = CmdParms(tree=t, server=t.main, where=Context.HTACCESS, dir_confs=confs,
                   override=Override.ALL)
    process_nodes(parse_text("CheckSpelling On\n", ".htaccess"), cmd)
    assert "speling.check_speling" in _running(t, "fixups")
    assert "mod_headers.fixup_request_headers" not in _running(t, "fixups")


@pytest.mark.parametrize("body, hook, fn", [
    ("Require all granted\n", "access_checker_ex", "mod_authz_core.authorize_userless"),
    ("Order allow,deny\nAllow from all\n", "access_checker", "mod_authz_host.check_dir_access"),
    ("MimeMagicFile /dev/null\n", "type_checker", "mod_mime_magic.magic_find_ct"),
    ("SetEnvIf User-Agent x y=1\n", "post_read_request",
     "mod_setenvif.setenvif_post_read_request"),
])
def test_each_module_comes_back_with_its_directive(tmp_path: Path, body: str, hook: str,
                                                   fn: str) -> None:
    assert fn not in _running(_tree(tmp_path, ROOT_NONE), hook)
    d = f"<Directory {tmp_path}>\n{body}</Directory>\n" if "Require" in body or \
        "Allow" in body else body
    assert fn in _running(_tree(tmp_path, ROOT_NONE + d), hook)
