"""The command line without a server: option parsing (httpd's apr_getopt rules), the
usage text, -v/-V/-l/-L/-h, and what -L prints for each directive row (httpd 2.2's
ap_show_directives/show_overrides in server/config.c)."""

from __future__ import annotations

import os
import subprocess

import pytest

from featherd.cli import USAGE, Args, UsageError, main, parse_args, startup_messages
from featherd.config import dump
from featherd.config.directives import ArgSpec, Context, Override
from featherd.core.module import Module
from featherd.modules import builtin_modules

APACHE = "/usr/sbin/apache2"


# --- parsing --------------------------------------------------------------------------
def test_values_separate_and_glued() -> None:
    a = parse_args(["-f", "/x.conf", "-d/root", "-DFOO", "-D", "BAR", "-C", "Pre 1",
                    "-cPost 2", "-e", "debug", "-E", "start.log"])
    assert a.config == "/x.conf" and a.server_root == "/root"
    assert a.defines == ["FOO", "BAR"]
    assert a.pre == ["Pre 1"] and a.post == ["Post 2"]
    assert a.level == 7 and a.errfile == "start.log"


def test_clustered_flags() -> None:
    a = parse_args(["-tS"])
    assert a.test and "DUMP_VHOSTS" in a.defines
    a = parse_args(["-tDDUMP_MODULES"])
    assert a.test and a.defines == ["DUMP_MODULES"]


def test_s_and_m_are_t_with_defines() -> None:
    assert parse_args(["-S"]).defines == ["DUMP_VHOSTS"]
    a = parse_args(["-M"])
    assert a.test and a.defines == ["DUMP_MODULES"]


def test_x_defines_debug_one_process_foreground() -> None:
    a = parse_args(["-X"])
    assert a.defines == ["DEBUG"] and a.one_process and a.foreground


@pytest.mark.parametrize("define", ["FOREGROUND", "NO_DETACH", "ONE_PROCESS"])
def test_foreground_defines(define: str) -> None:
    a = parse_args(["-D", define])
    assert a.foreground
    assert a.one_process == (define == "ONE_PROCESS")


def test_t_flag_and_docroot_check() -> None:
    a = parse_args(["-t", "-T"])
    assert a.test and a.no_docroot_check


@pytest.mark.parametrize("action", ["start", "stop", "restart", "graceful", "graceful-stop"])
def test_k_actions(action: str) -> None:
    assert parse_args(["-k", action]).signal == action


@pytest.mark.parametrize("argv,message", [
    (["-x"], "featherd: illegal option -- x"),
    (["-R", "dir"], "featherd: illegal option -- R"),
    (["-f"], "featherd: option requires an argument -- f"),
    (["-k", "bogus"], "featherd: illegal option -- k"),
    (["-k", "stop", "-k", "start"], "featherd: illegal option -- k"),
    (["-e", "loud"], ""),
    (["-e", "trace1"], ""),   # 2.2 has no trace levels
    (["-t", "stray"], ""),
])
def test_refused(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as ei:
        parse_args(argv)
    assert str(ei.value) == message


def test_usage_error_prints_usage_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-x"]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err == "featherd: illegal option -- x\n" + USAGE


# --- -h -v -V -l -L ---------------------------------------------------------------------
def test_h_is_usage_on_stderr_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-h"]) == 1
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err == USAGE


def test_usage_shape() -> None:
    lines = USAGE.splitlines()
    assert lines[0] == "Usage: featherd [-D name] [-d directory] [-f file]"
    assert lines[1] == " " * 16 + '[-C "directive"] [-c "directive"]'
    assert lines[2] == " " * 16 + "[-k start|restart|graceful|graceful-stop|stop]"
    assert lines[4] == "Options:"
    assert "  -t -D DUMP_MODULES : show all loaded modules " in lines


@pytest.mark.skipif(not os.path.exists(APACHE), reason="apache2 not installed")
def test_usage_lines_match_apache() -> None:
    """Oracle: apart from 2.2's -S/DUMP_VHOSTS lines, each option line is httpd's."""
    p = subprocess.run([APACHE, "-h"], capture_output=True, text=True)
    theirs = p.stderr.splitlines()
    assert p.returncode == 1
    ours = USAGE.splitlines()
    assert ours[3].split("[-v]")[1] == theirs[3].split("[-v]")[1]
    for line in ours[4:]:
        if "DUMP_VHOSTS" in line:
            continue
        assert line in theirs, line


def test_v(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-v"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Server version: featherd/0.1.0 (Unix)"
    assert out[1].startswith("Server built:   ") and len(out) == 2


def test_first_info_flag_wins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-v", "-l"]) == 0
    assert capsys.readouterr().out.startswith("Server version:")


def test_big_v(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-V"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "Server version: featherd/0.1.0 (Unix)"
    assert [ln.split(":")[0] for ln in lines[1:6]] == [
        "Server built", "Server loaded", "Compiled using", "Architecture", "Server MPM"]
    assert "Server compiled with...." in lines
    assert ' -D APACHE_COMPAT_VERSION="2.2.34"' in lines
    assert ' -D DEFAULT_PIDLOG="logs/httpd.pid"' in lines
    assert any(ln.startswith(" -D SERVER_CONFIG_FILE=") and ln.endswith('httpd.conf"')
               for ln in lines)


def test_l_lists_builtin_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-l"]) == 0
    out = capsys.readouterr().out
    assert out == "Compiled in modules:\n" + "".join(f"  {m.source}\n"
                                                   for m in builtin_modules())
    assert "  core.c\n" in out


def test_big_l_has_a_row_for_every_directive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-L"]) == 0
    out = capsys.readouterr().out
    rows = [d for m in builtin_modules() for d in m.directives]
    assert rows
    assert out == "".join(dump.directive_row(d) for d in rows)
    for d in rows:
        head = f"{'<' if d.container else ''}{d.name} ({d.module.source})\n"
        assert head in out
    assert out.count("\tAllowed in *.conf ") == len(rows)


# --- -L rows: show_overrides ------------------------------------------------------------
def _row(name: str, context: Context, override: Override = Override.NONE,
         container: bool = False, help: str = "help text", dir_config: bool = True) -> str:
    m = Module("t_module", "mod_t.c", dir_config=object if dir_config else None)
    m.directive(name, args=ArgSpec.RAW_ARGS, context=context, override=override,
                container=container, help=help)(lambda cmd, conf, raw: None)
    return dump.directive_row(m.directives[0])


def test_row_container_rsrc_only() -> None:
    # httpd 2.2 -L: "<Directory (core.c)" ... "only outside <Directory>, <Files> or <Location>"
    assert _row("Directory", Context.RSRC, container=True,
                help="Container for directives affecting resources located in the "
                     "specified directories") == (
        "<Directory (mod_t.c)\n"
        "\tContainer for directives affecting resources located in the specified "
        "directories\n"
        "\tAllowed in *.conf only outside <Directory>, <Files> or <Location>\n")


def test_row_everywhere_with_all_overrides() -> None:
    assert _row("Files", Context.SERVER | Context.VHOST | Context.DIRECTORY |
                Context.HTACCESS, Override.ALL, container=True).endswith(
        "\tAllowed in *.conf anywhere and in .htaccess\n\twhen AllowOverride isn't None\n")


def test_row_dir_only_with_authcfg_limit() -> None:
    # <Limit>: OR_AUTHCFG|OR_LIMIT without RSRC_CONF
    assert _row("Limit", Context.DIR_HTACCESS, Override.AUTHCFG | Override.LIMIT).endswith(
        "\tAllowed in *.conf only inside <Directory>, <Files> or <Location> and in "
        ".htaccess\n\twhen AllowOverride includes AuthConfig or Limit\n")


def test_row_override_order_is_apaches() -> None:
    row = _row("X", Context.ALL_DIR, Override.INDEXES | Override.FILEINFO | Override.OPTIONS)
    assert row.endswith("when AllowOverride includes Options or FileInfo or Indexes\n")


def test_row_server_and_sections() -> None:
    assert _row("HostnameLookups", Context.ACCESS).endswith("\tAllowed in *.conf anywhere\n")


def test_row_without_help_and_without_dir_config() -> None:
    row = _row("ServerLimit", Context.SERVER, help="")
    assert row == ("ServerLimit (mod_t.c)\n"
                   "\tAllowed in *.conf only outside <Directory>, <Files> or <Location>\n")
    row = _row("Y", Context.DIR, dir_config=False)
    assert "only inside <Directory>, <Files> or <Location> [no per-dir config]\n" in row


# --- -M ---------------------------------------------------------------------------------
def test_loaded_modules_static_and_shared() -> None:
    a = Module("core_module", "core.c")
    b = Module("example_module", "mod_example.c")
    assert dump.loaded_modules([a, b], {"example_module"}) == (
        "Loaded Modules:\n core_module (static)\n example_module (shared)\n")


# --- start-up messages --------------------------------------------------------------------
class _Tree:
    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings
        self.modules = builtin_modules()


def test_docroot_warning_hidden_by_t_capital() -> None:
    t = _Tree(["Warning: DocumentRoot [/nope] does not exist", "other"])
    assert startup_messages(t, Args()) == t.warnings
    assert startup_messages(t, Args(no_docroot_check=True)) == ["other"]


def test_e_debug_adds_module_notes_only_at_debug() -> None:
    t = _Tree([])
    assert startup_messages(t, Args(level=4)) == []
    assert startup_messages(t, Args(level=7)) == []  # nothing LoadModule'd
