"""mod_dir's configuration (DirectoryIndex, DirectorySlash, DirectoryIndexRedirect,
FallbackResource, DirectoryCheckHandler), its merge, URL escaping and the handler chain
it shares with mod_autoindex. No sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from featherd.config.merge import UNSET
from featherd.core.config import ServerConfigTree, load_config
from featherd.core.hooks import DECLINED
from featherd.core.module import Module
from featherd.errors import ConfigError
from featherd.modules import builtin_modules
from featherd.modules.mappers import mod_dir
from featherd.modules.mappers.mod_dir import (
    DIR_MAGIC_TYPE,
    claim_dir_handler,
    dir_mod,
    escape_path,
    handle_index,
    local_url,
)


def tree_of(tmp_path: Path, text: str) -> ServerConfigTree:
    return load_config(None, builtin_modules(), server_root=str(tmp_path),
                       text="ServerName unit.test\n" + text)


def dconf(tree: ServerConfigTree, *sections: int) -> Any:
    confs = tree.main.lookup_defaults
    for i in sections:
        confs = tree.merge_dir_confs(confs, tree.main.sec_dir[i].confs)
    return confs[dir_mod.index]


def test_directory_index_accumulates_within_a_context(tmp_path: Path) -> None:
    t = tree_of(tmp_path, "DirectoryIndex index.html\nDirectoryIndex index.php 'a b.html'\n")
    assert dconf(t).index_names == ("index.html", "index.php", "a b.html")


def test_directory_index_disabled(tmp_path: Path) -> None:
    t = tree_of(tmp_path, "DirectoryIndex a.html\nDirectoryIndex disabled\n"
                          "DirectoryIndex b.html\n")
    assert dconf(t).index_names == ("b.html",)
    t = tree_of(tmp_path, "DirectoryIndex Disabled\n")
    assert dconf(t).index_names == ()
    t = tree_of(tmp_path, "DirectoryIndex disabled disabled\n")
    assert dconf(t).index_names == ("disabled", "disabled")


def test_child_index_list_replaces_the_parent_list(tmp_path: Path) -> None:
    t = tree_of(tmp_path, "DirectoryIndex a.html b.html\n<Directory /x>\n"
                          "DirectoryIndex c.html\n</Directory>\n<Directory /x/y>\n"
                          "DirectorySlash Off\n</Directory>\n")
    assert dconf(t, 0).index_names == ("c.html",)
    assert dconf(t, 0, 1).index_names == ("c.html",)
    assert dconf(t, 0, 1).do_slash is False
    assert dconf(t).do_slash is UNSET


@pytest.mark.parametrize("arg,status", [
    ("on", 302), ("ON", 302), ("off", 0), ("permanent", 301), ("temp", 302),
    ("seeother", 303), ("307", 307), ("300", 300), ("399", 399), ("308abc", 308),
])
def test_directory_index_redirect_values(tmp_path: Path, arg: str, status: int) -> None:
    t = tree_of(tmp_path, f"DirectoryIndexRedirect {arg}\n")
    assert dconf(t).redirect_index == status


@pytest.mark.parametrize("arg,message", [
    ("200", "DirectoryIndexRedirect only accepts values between 300 and 399"),
    ("400", "DirectoryIndexRedirect only accepts values between 300 and 399"),
    ("maybe", "DirectoryIndexRedirect ON|OFF|permanent|temp|seeother|3xx"),
])
def test_directory_index_redirect_errors(tmp_path: Path, arg: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, f"DirectoryIndexRedirect {arg}\n")
    assert ei.value.message == message


def test_fallback_resource_and_disabled(tmp_path: Path) -> None:
    t = tree_of(tmp_path, "FallbackResource /index.php\n<Directory /x>\n"
                          "FallbackResource disabled\n</Directory>\n")
    assert dconf(t).dflt == "/index.php"
    assert dconf(t, 0).dflt is None


def test_directory_check_handler_flag(tmp_path: Path) -> None:
    t = tree_of(tmp_path, "DirectoryCheckHandler Off\n")
    assert dconf(t).check_handler is False
    with pytest.raises(ConfigError) as ei:
        tree_of(tmp_path, "DirectoryCheckHandler sometimes\n")
    assert ei.value.message == "DirectoryCheckHandler must be On or Off"


def test_directives_need_allowoverride_indexes() -> None:
    from featherd.config.directives import Context, Override

    for d in dir_mod.directives:
        assert d.override == Override.INDEXES, d.name
        assert Context.HTACCESS in d.context and Context.SERVER in d.context


@pytest.mark.parametrize("path,escaped", [
    ("/docs", "/docs"),
    ("/a b", "/a%20b"),
    ("/p%q", "/p%25q"),
    ("/a;b,c:d@e&f=g+h$i!j*k'l(m)n~o", "/a;b,c:d@e&f=g+h$i!j*k'l(m)n~o"),
    ('/q"<x>?#', "/q%22%3cx%3e%3f%23"),
    ("/d\u00c3\u00a9", "/d%c3%a9"),          # r.uri holds the bytes as latin-1 characters
])
def test_escape_path(path: str, escaped: str) -> None:
    assert escape_path(path) == escaped


def test_local_url_is_relative_to_the_escaped_directory() -> None:
    r = SimpleNamespace(uri="/p%q/sub dir/")
    assert local_url(r, "index.html") == "/p%25q/sub%20dir/index.html"  # type: ignore[arg-type]
    assert local_url(r, "/abs/x.html") == "/abs/x.html"  # type: ignore[arg-type]


def test_handler_chain_runs_mod_dir_first(tmp_path: Path) -> None:
    calls: list[str] = []

    other = Module("other_dir_module", "mod_other.c")

    @other.handler(DIR_MAGIC_TYPE)
    def other_handler(r: Any) -> int:
        calls.append("other")
        return 0

    tree = SimpleNamespace(modules=[dir_mod, other], loaded={"dir_module": dir_mod,
                                                            "other_dir_module": other},
                           handlers={DIR_MAGIC_TYPE: other_handler})
    claim_dir_handler(tree)
    fn = tree.handlers[DIR_MAGIC_TYPE]
    assert fn is not other_handler and fn is not handle_index
    r = SimpleNamespace(finfo=None)   # not a directory: mod_dir declines
    assert asyncio.run(fn(r)) == 0
    assert calls == ["other"]
    tree2 = SimpleNamespace(modules=[dir_mod], loaded={"dir_module": dir_mod}, handlers={})
    claim_dir_handler(tree2)
    assert tree2.handlers[DIR_MAGIC_TYPE] is handle_index
    assert asyncio.run(handle_index(r)) == DECLINED  # type: ignore[arg-type]


def test_built_in_module_names() -> None:
    from featherd.modules import BUILTIN

    assert ("featherd.modules.mappers.mod_dir", "dir") in BUILTIN
    assert ("featherd.modules.http.mod_mime", "mime") in BUILTIN
    assert mod_dir.dir is dir_mod
    assert dir_mod.name == "dir_module" and dir_mod.source == "mod_dir.c"
