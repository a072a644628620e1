"""The parser (config/parser.py): containers, context checks, the build pass (Include,
<IfModule>, <IfDefine>, <IfVersion>, Define, ${VAR}) and where errors are reported.
Expected texts were taken from apache2 -t (2.4) and 2.2's core.c; 2.2's "X not allowed
here" is kept where 2.4 says "X not allowed in <Directory> context"."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from featherd.config.tree import BuildError
from featherd.core.config import load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules

HEAD = "ServerName t.local\n"


def load(text: str, root: Path, **kw: Any) -> Any:
    f = root / "httpd.conf"
    f.write_text(HEAD + text)
    return load_config(str(f), builtin_modules(), server_root=str(root), **kw)


def error(text: str, root: Path, **kw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as ei:
        load(text, root, **kw)
    return ei.value


@pytest.mark.parametrize("body,line,msg", [
    ("Foo bar\n", 2, "Invalid command 'Foo', perhaps misspelled or defined by a module "
                     "not included in the server configuration"),
    ("<Foo bar>\n</Foo>\n", 2, "Invalid command '<Foo', perhaps misspelled or defined by "
                               "a module not included in the server configuration"),
    ("Directory /\n", 2, "Invalid command 'Directory', perhaps misspelled or defined by a "
                         "module not included in the server configuration"),
    ("<Directory /\n</Directory>\n", 2, "<Directory> directive missing closing '>'"),
    ("<Directory>\n</Directory>\n", 2, "<Directory> directive requires additional arguments"),
    ("<VirtualHost>\n</VirtualHost>\n", 2,
     "<VirtualHost> directive requires additional arguments"),
    ("<Directory /tmp>\nListen 80\n</Directory>\n", 3, "Listen not allowed here"),
    ("<VirtualHost *:80>\nListen 8080\n</VirtualHost>\n", 3,
     "Listen cannot occur within <VirtualHost> section"),
    ("<VirtualHost *:80>\n<VirtualHost *:81>\n</VirtualHost>\n</VirtualHost>\n", 3,
     "<VirtualHost> cannot occur within <VirtualHost> section"),
    ("<Directory /tmp>\n<Directory /tmp/a>\n</Directory>\n</Directory>\n", 3,
     "<Directory not allowed here"),
    ("<Files a>\n<Location /a>\n</Location>\n</Files>\n", 3, "<Location not allowed here"),
    ("<Location />\n<Files y>\n</Files>\n</Location>\n", 3,
     "<Files> cannot occur within <Location> section"),
    ("<LocationMatch />\n<Files y>\n</Files>\n</LocationMatch>\n", 3,
     "<Files> cannot occur within <LocationMatch> section"),
    ("AllowOverride None\n", 2, "AllowOverride not allowed here"),
    ("ServerAlias foo\n", 2, "ServerAlias only used in <VirtualHost>"),
    ("<Location />\nDocumentRoot /tmp\n</Location>\n", 3, "DocumentRoot not allowed here"),
    ("<Directory />\n<Limit GET>\n<Directory /a>\n</Directory>\n</Limit>\n</Directory>\n", 4,
     "<Directory not allowed here"),
    ("<Limit GET>\n<Location /a>\n</Location>\n</Limit>\n", 3,
     "<Location> cannot occur within <Limit> section"),
    ("<Directory />\nOptions Bogus\n</Directory>\n", 3, "Illegal option Bogus"),
    ("<Directory />\nAllowOverride Options=Bogus\n</Directory>\n", 3, "Illegal option Bogus"),
    ("<Directory />\nAllowOverride Bogus\n</Directory>\n", 3,
     "Illegal override option Bogus"),
    ("<DirectoryMatch (>\n</DirectoryMatch>\n", 2, "Regex could not be compiled"),
    ("ErrorDocument 404\n", 2, "ErrorDocument takes two arguments, Change responses for "
                               "HTTP errors"),
    ("ErrorDocument 999 /x\n", 2, "Unsupported HTTP response code 999"),
    ("ErrorDocument 404 \"a\" \"b\"\n", 2, "ErrorDocument takes two arguments, Change "
                                           "responses for HTTP errors"),
    ("ServerAdmin a\\\n   b\n", 3, "ServerAdmin takes one argument, The email address of "
                                    "the server administrator"),
    ("ServerAdmin x # trailing\n", 2, "ServerAdmin takes one argument, The email address "
                                      "of the server administrator"),
])
def test_walk_errors(body: str, line: int, msg: str, tmp_path: Path) -> None:
    e = error(body, tmp_path)
    assert not isinstance(e, BuildError)
    assert (e.message, e.line, e.filename) == (msg, line, str(tmp_path / "httpd.conf"))
    assert str(e) == f"Syntax error on line {line} of {tmp_path / 'httpd.conf'}:\n{msg}"


@pytest.mark.parametrize("body,line,msg", [
    ("<Directory />\nOptions None\n", 2, "<Directory> was not closed."),
    ("<Directory />\n</Location>\n", 3, "Expected </Directory> but saw </Location>"),
    ("</Directory>\n", 2, "</Directory> without matching <Directory> section"),
    ("<IfModule>\n</IfModule>\n", 2, "<IfModule> directive requires additional arguments"),
    ("<IfDefine>\n</IfDefine>\n", 2, "<IfDefine> directive requires additional arguments"),
    ("<IfModule mod_foo.c\n</IfModule>\n", 2, "<IfModule> directive missing closing '>'"),
    ("<IfVersion bogus 2>\n</IfVersion>\n", 2, "unrecognized operator 'bogus'"),
    ("<IfVersion 2.x>\n</IfVersion>\n", 2, "Version appears to be invalid. It must have the "
     "format major[.minor[.patch]] where major, minor and patch are numbers."),
    ("Define A b c\n", 2, "Define takes 1-2 arguments, Define a variable, optionally to a "
                          "value.  Same as passing -D to the command line."),
    ("Include /nonexistent/file.conf\n", 2, "Could not open configuration file "
                                            "/nonexistent/file.conf: No such file or directory"),
    ("Include /nonexistent/*.conf\n", 2, "Include/IncludeOptional: Could not open directory "
                                         "/nonexistent: No such file or directory"),
])
def test_build_errors_one_line(body: str, line: int, msg: str, tmp_path: Path) -> None:
    e = error(body, tmp_path)
    assert isinstance(e, BuildError)
    assert (e.message, e.line) == (msg, line)
    assert str(e) == f"featherd: Syntax error on line {line} of {tmp_path / 'httpd.conf'}: {msg}"


def test_include_wildcard_without_match(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    e = error(f"Include {tmp_path}/conf.d/*.conf\n", tmp_path)
    assert e.message == (f"Include/IncludeOptional: No matches for the wildcard '*.conf' in "
                         f"'{tmp_path}/conf.d', failing")
    load(f"IncludeOptional {tmp_path}/conf.d/*.conf\nIncludeOptional /nope/x.conf\n", tmp_path)


def test_nested_include_errors_name_every_level(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("# a\nInclude b.conf\n")
    (tmp_path / "b.conf").write_text("\n\n<Directory /x>\n")
    e = error("Include a.conf\n", tmp_path)
    assert str(e) == (f"featherd: Syntax error on line 2 of {tmp_path}/httpd.conf: Syntax "
                      f"error on line 2 of {tmp_path}/a.conf: Syntax error on line 3 of "
                      f"{tmp_path}/b.conf: <Directory> was not closed.")


def test_walk_error_in_included_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text("ServerAdmin x\nBogusDirective\n")
    e = error("<VirtualHost *:80>\nInclude inc.conf\n</VirtualHost>\n", tmp_path)
    assert (e.filename, e.line) == (str(tmp_path / "inc.conf"), 2)


def test_include_directory_and_glob_in_order(tmp_path: Path) -> None:
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "b.conf").write_text("ServerAdmin b@x\n")
    (d / "a.conf").write_text("ServerAdmin a@x\n")
    (d / ".hidden").write_text("Bogus\n")
    assert load("Include conf.d\n", tmp_path).main.server_admin == "b@x"
    assert load("Include conf.d/*.conf\n", tmp_path).main.server_admin == "b@x"
    # an Include inside <VirtualHost> applies to that vhost
    t = load("<VirtualHost *:80>\nInclude conf.d/a.conf\n</VirtualHost>\n", tmp_path)
    assert t.vhosts[0].server_admin == "a@x"


def test_include_recursion_is_stopped(tmp_path: Path) -> None:
    (tmp_path / "loop.conf").write_text("Include loop.conf\n")
    e = error("Include loop.conf\n", tmp_path)
    assert "Exceeded the maximum include directory nesting level of 128" in str(e)


def test_include_is_not_allowed_in_htaccess_context() -> None:
    from featherd.core.core_module import core

    row = next(d for d in core.directives if d.name == "Include")
    from featherd.config.directives import Context
    assert Context.HTACCESS not in row.context


def test_ifmodule_by_file_and_identifier_and_negation(tmp_path: Path) -> None:
    t = load("<IfModule mod_env.c>\nServerAdmin a\n</IfModule>\n"
             "<IfModule !env_module>\nServerAdmin b\n</IfModule>\n"
             "<IfModule mod_nope.c>\nBogus directive is never seen\n"
             "<IfModule x>\nNor this\n</IfModule>\n</IfModule>\n", tmp_path)
    assert t.main.server_admin == "a"


def test_ifdefine_from_command_line_and_define(tmp_path: Path) -> None:
    body = ("<IfDefine X>\nServerAdmin x\n</IfDefine>\n<IfDefine !X>\nServerAdmin notx\n"
            "</IfDefine>\n")
    assert load(body, tmp_path, defines={"X"}).main.server_admin == "x"
    assert load(body, tmp_path).main.server_admin == "notx"
    assert load("Define X\n" + body, tmp_path).main.server_admin == "x"
    assert load("Define X\nUnDefine X\n" + body, tmp_path).main.server_admin == "notx"


def test_ifversion(tmp_path: Path) -> None:
    body = ("<IfVersion >= 2.2>\nServerAdmin ge22\n</IfVersion>\n"
            "<IfVersion >= 2.4>\nServerAdmin ge24\n</IfVersion>\n"
            "<IfVersion !~ ^1>\nServerTokens Prod\n</IfVersion>\n")
    t = load(body, tmp_path)
    assert t.main.server_admin == "ge22"     # featherd follows 2.2
    assert t.extra["server_tokens"] == "prod"


def test_env_and_define_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATHERD_TEST_ADMIN", "env@x")
    t = load("ServerAdmin ${FEATHERD_TEST_ADMIN}\n", tmp_path)
    assert t.main.server_admin == "env@x"
    t = load("Define ADM def@x\nServerAdmin ${ADM}\n", tmp_path)
    assert t.main.server_admin == "def@x"
    # defined later than used: stays as written, with 2.4's warning
    t = load("ServerAdmin ${LATER_VAR}\nDefine LATER_VAR v\n", tmp_path)
    assert t.main.server_admin == "${LATER_VAR}"
    assert "Config variable ${LATER_VAR} is not defined" in t.warnings
    # substitution happens before the conditional sections are evaluated
    t = load("Define WHICH X\n<IfDefine ${WHICH}>\nServerAdmin w\n</IfDefine>\nDefine X\n",
             tmp_path)
    assert t.main.server_admin != "w"
    t = load("Define X\nDefine WHICH X\n<IfDefine ${WHICH}>\nServerAdmin w\n</IfDefine>\n",
             tmp_path)
    assert t.main.server_admin == "w"


def test_useless_allowoverride_is_a_warning(tmp_path: Path) -> None:
    t = load("<Location />\nAllowOverride None\n</Location>\n", tmp_path)
    assert t.warnings == [f"Useless use of AllowOverride in line 3 of {tmp_path}/httpd.conf."]


def test_nested_files_and_errordocument_401_url(tmp_path: Path) -> None:
    t = load("<Files x>\n<Files y>\n</Files>\n</Files>\nErrorDocument 401 http://x/y\n",
             tmp_path)
    assert any("cannot use a full URL in a 401 ErrorDocument directive --- ignoring!" in w
               for w in t.warnings)


def test_cli_prints_apache_shaped_errors(tmp_path: Path) -> None:
    import subprocess
    import sys

    conf = tmp_path / "c.conf"
    conf.write_text("ServerName x\n<Directory />\nBogus\n</Directory>\n")
    env = dict(os.environ)
    p = subprocess.run([sys.executable, "-m", "featherd", "-t", "-f", str(conf)],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 1
    assert p.stderr.startswith(f"Syntax error on line 3 of {conf}:\nInvalid command 'Bogus'")
    conf.write_text("ServerName x\n<Directory />\n")
    p = subprocess.run([sys.executable, "-m", "featherd", "-t", "-f", str(conf)],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.stderr.strip() == (f"featherd: Syntax error on line 2 of {conf}: <Directory> "
                                "was not closed.")
