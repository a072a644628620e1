"""mod_userdir's translation (manual: "UserDir") and directive, no sockets."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any

import pytest

from featherd.core.config import load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules
from featherd.modules.mappers.userdir import (
    O_DISABLE,
    O_ENABLE,
    UserdirConfig,
    translate,
    userdir,
)


def conf(pattern: str | None, *, disabled: set[str] | None = None,
         enabled: set[str] | None = None, glob: int = 0) -> UserdirConfig:
    return UserdirConfig(glob, pattern, enabled or set(), disabled or set())


def test_no_userdir_no_translation() -> None:
    assert translate(conf(None), "/~bob/x") is None


def test_absolute_forms(tmp_path: Path) -> None:
    assert translate(conf("/usr/web"), "/~bob/one/two.html") == \
        ("file", "/usr/web/bob/one/two.html", "bob")
    assert translate(conf("/home/*/www"), "/~bob/one/two.html") == \
        ("file", "/home/bob/www/one/two.html", "bob")
    assert translate(conf("/home/*/www"), "/~bob") == ("file", "/home/bob/www", "bob")


def test_relative_form_uses_the_home_directory() -> None:
    me = pwd.getpwuid(os.getuid())
    assert translate(conf("public_html"), f"/~{me.pw_name}/a.html") == \
        ("file", f"{me.pw_dir}/public_html/a.html", me.pw_name)
    assert translate(conf("public_html"), "/~no-such-user-xyz/a.html") is None


def test_url_forms_redirect() -> None:
    assert translate(conf("http://www.example.com/users"), "/~bob/one/two.html") == \
        ("redirect", "http://www.example.com/users/bob/one/two.html", "bob")
    assert translate(conf("http://www.example.com/*/usr"), "/~bob/one/two.html") == \
        ("redirect", "http://www.example.com/bob/usr/one/two.html", "bob")
    assert translate(conf("http://www.example.com/~*/"), "/~bob/one/two.html") == \
        ("redirect", "http://www.example.com/~bob/one/two.html", "bob")


def test_alternatives_first_existing_or_last(tmp_path: Path) -> None:
    (tmp_path / "b" / "bob").mkdir(parents=True)
    c = conf(f"{tmp_path}/a {tmp_path}/b http://x.example/")
    assert translate(c, "/~bob/p") == ("file", f"{tmp_path}/b/bob/p", "bob")
    assert translate(c, "/~ann/p") == ("redirect", "http://x.example/ann/p", "ann")
    c = conf(f"{tmp_path}/a {tmp_path}/c")
    assert translate(c, "/~bob/p") == ("file", f"{tmp_path}/c/bob/p", "bob")


def test_enabled_and_disabled_lists() -> None:
    assert translate(conf("/w", disabled={"root"}), "/~root/") is None
    assert translate(conf("/w", glob=O_DISABLE), "/~bob/") is None
    assert translate(conf("/w", glob=O_DISABLE, enabled={"bob"}), "/~bob/") is not None
    # an explicit disable wins over enabled
    assert translate(conf("/w", glob=O_DISABLE, enabled={"bob"}, disabled={"bob"}),
                     "/~bob/") is None


@pytest.mark.parametrize("uri,mapped", [("/~", False), ("/~/x", False), ("/x~bob", False),
                                        ("/~x./y", False), ("/~x../y", False),
                                        ("/~./x", True)])
def test_names_not_translated(uri: str, mapped: bool) -> None:
    # Apache checks the second character for "." and ".." (so "~." itself passes)
    assert (translate(conf("/w"), uri) is not None) is mapped


def tree(tmp_path: Path, text: str) -> Any:
    return load_config(None, builtin_modules(), server_root=str(tmp_path),
                       text="ServerName unit.test\n" + text)


def test_directive_and_vhost_merge(tmp_path: Path) -> None:
    t = tree(tmp_path, "UserDir public_html /w\nUserDir disabled root adm\n"
                       "<VirtualHost *:80>\nServerName v\nUserDir enabled\n</VirtualHost>\n"
                       "<VirtualHost *:80>\nServerName w\nUserDir disabled\n"
                       "UserDir enabled bob\n</VirtualHost>\n")
    from featherd.core.fixup import fixup_servers
    fixup_servers(t)
    main = t.main.module_config[userdir.index]
    assert (main.userdir, main.disabled_users) == ("public_html /w", {"root", "adm"})
    v, w = (s.module_config[userdir.index] for s in t.vhosts)
    assert (v.userdir, v.globally_disabled, v.disabled_users) == ("public_html /w",
                                                                   O_ENABLE, set())
    assert (w.globally_disabled, w.enabled_users) == (O_DISABLE, {"bob"})


def test_directive_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="UserDir requires an argument"):
        tree(tmp_path, 'UserDir ""\n')
    with pytest.raises(ConfigError, match="not allowed here"):
        tree(tmp_path, "<Directory /x>\nUserDir public_html\n</Directory>\n")
