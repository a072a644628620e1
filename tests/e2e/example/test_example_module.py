"""mod_example (examples/featherd-example), installed as a separate package and loaded
with ``LoadModule example_module modules/mod_example.so`` through the featherd.modules
entry-point group: its page lists the hooks in the order featherd ran them, with the
configuration in effect (the counterpart of Apache's mod_example_hooks)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

# (not imported from tests/conftest.py: several conftest modules share that name)
SRC = Path(__file__).resolve().parents[3] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "featherd-example"

PHASES = ["post_read_request", "translate_name", "map_to_storage", "header_parser",
          "access_checker", "type_checker", "fixups", "insert_filter", "handler"]
AUTH_PHASES = ["post_read_request", "translate_name", "map_to_storage", "header_parser",
               "access_checker", "check_user_id", "auth_checker", "type_checker", "fixups",
               "insert_filter", "handler"]


def _installed() -> bool:
    from importlib.metadata import entry_points

    return any(ep.name == "example_module" for ep in entry_points(group="featherd.modules"))


@pytest.fixture(scope="module", autouse=True)
def example_package() -> None:
    """pip-install the example package (editable) unless its entry point is there."""
    if _installed():
        return
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      capture_output=True).returncode != 0:
        pytest.skip("pip is not available to install examples/featherd-example")
    tail = ""
    for extra in ([], ["--no-build-isolation"]):
        p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", *extra,
                            "-e", str(EXAMPLE)], capture_output=True, text=True, timeout=300)
        if p.returncode == 0:
            break
        tail = (p.stdout + p.stderr)[-800:]
    else:
        pytest.skip(f"could not pip-install examples/featherd-example: {tail}")
    import importlib

    importlib.invalidate_caches()
    assert _installed()


CONF = """
LoadModule example_module modules/mod_example.so
Example
ExampleMessage "from the server"
<Location /example>
    SetHandler example-handler
    Example
</Location>
<Location /example/auth>
    AuthType Example
    AuthName "example realm"
    Require valid-user
    ExampleMessage "auth area"
</Location>
<Location /example/basic>
    AuthType Basic
    AuthName "example provider"
    AuthBasicProvider example
    Require valid-user
</Location>
"""


def _items(page: str, ol_id: str) -> list[str]:
    m = re.search(rf'<ol id="{ol_id}">\n(.*?)</ol>', page, re.S)
    assert m, page
    return re.findall(r"<li>(.*?)</li>", m.group(1))


def _cell(page: str, cell_id: str) -> str:
    m = re.search(rf'<td id="{cell_id}">(.*?)</td>', page)
    assert m, page
    return m.group(1)


def test_page_lists_every_phase_in_order(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(CONF, args=["-X"])
    r = requests.get(srv.url("/example"), timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    trace = _items(r.text, "trace")
    assert trace[0].startswith("pre_connection (connection ")
    assert trace[1:] == PHASES
    startup = _items(r.text, "startup")
    assert startup[0] == "post_config" and startup[1].startswith("child_init (pid ")
    # the output filter inserted by insert_filter saw the whole page
    m = re.search(r"<!-- EXAMPLE_TRACE: (\d+) bytes -->\n$", r.text)
    assert m and int(m.group(1)) == len(r.content) - len(m.group(0))
    assert int(r.headers["Content-Length"]) == len(r.content)


def test_configuration_in_effect_and_merges(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(CONF, args=["-X"])
    page = requests.get(srv.url("/example"), timeout=5).text
    # base_conf has 10 lines; the Example lines are on lines 13 and 17
    assert _cell(page, "dir-origin") == "(server defaults) + /example"
    assert _cell(page, "dir-example") == "httpd.conf:17"
    assert _cell(page, "dir-examples") == "httpd.conf:13, httpd.conf:17"
    assert _cell(page, "dir-message") == "from the server"
    assert _cell(page, "server-examples") == "httpd.conf:13, httpd.conf:17"
    assert _cell(page, "user") == "(none)"
    page = requests.get(srv.url("/example/auth"), timeout=5).text
    assert _cell(page, "dir-origin") == "(server defaults) + /example + /example/auth"
    assert _cell(page, "dir-message") == "auth area"        # child over parent
    assert _cell(page, "dir-example") == "httpd.conf:17"    # inherited


def test_auth_phases_run_where_require_applies(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(CONF, args=["-X"])
    r = requests.get(srv.url("/example/auth"), timeout=5)
    assert r.status_code == 200
    assert _items(r.text, "trace")[1:] == AUTH_PHASES
    assert _cell(r.text, "user") == "example"


def test_authn_provider_used_by_auth_basic(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(CONF, args=["-X"])
    r = requests.get(srv.url("/example/basic"), timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="example provider"'
    assert requests.get(srv.url("/example/basic"), auth=("example", "wrong"),
                        timeout=5).status_code == 401
    assert requests.get(srv.url("/example/basic"), auth=("nobody", "example"),
                        timeout=5).status_code == 401
    r = requests.get(srv.url("/example/basic"), auth=("example", "example"), timeout=5)
    assert r.status_code == 200
    trace = _items(r.text, "trace")
    assert trace[trace.index("check_user_id") + 1] == "authn provider example (user example)"
    assert "auth_checker" in trace and _cell(r.text, "user") == "example"
    log = srv.error_log()
    assert 'user example: authentication failure for "/example/basic": Password Mismatch' \
        in log
    assert "user nobody not found: /example/basic" in log


def test_log_transaction_runs_after_the_response(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(CONF, args=["-X"])
    with requests.Session() as s:
        first = s.get(srv.url("/example"), timeout=5).text
        second = s.get(srv.url("/example?again"), timeout=5).text
    assert 'id="logged">0<' in first
    assert 'id="logged">1<' in second and "GET /example HTTP/1.1" in second
    # same connection: pre_connection ran once, both traces show it
    assert _items(first, "trace")[0] == _items(second, "trace")[0]
    deadline = time.monotonic() + 3
    want = ("example_module: GET /example HTTP/1.1: pre_connection (connection ")
    while want not in srv.error_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(ln for ln in srv.error_log().splitlines() if want in ln)
    tail = ", ".join(PHASES) + r", output filter EXAMPLE_TRACE \(\d+ bytes\), log_transaction$"
    assert re.search(tail, line), line


def test_other_urls_untouched(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(CONF, files={"htdocs/plain.txt": "plain\n"}, args=["-X"])
    r = requests.get(srv.url("/plain.txt"), timeout=5)
    assert r.status_code == 200 and r.text == "plain\n"


def test_example_in_htaccess_needs_allowoverride_options(make_server) -> None:  # type: ignore[no-untyped-def]
    conf = CONF + """
<Directory @ROOT@/htdocs/ok>
    AllowOverride Options
</Directory>
<Directory @ROOT@/htdocs/no>
    AllowOverride FileInfo
</Directory>
"""
    srv = make_server(conf, files={"htdocs/ok/.htaccess": "ExampleMessage from-htaccess\n",
                                   "htdocs/ok/x.txt": "x\n",
                                   "htdocs/no/.htaccess": "Example\n",
                                   "htdocs/no/x.txt": "x\n"}, args=["-X"])
    assert requests.get(srv.url("/ok/x.txt"), timeout=5).status_code == 200
    assert requests.get(srv.url("/no/x.txt"), timeout=5).status_code == 500
    assert "Example not allowed here" in srv.error_log()


def test_modules_list_and_debug_note(tmp_path: Path) -> None:
    conf = tmp_path / "httpd.conf"
    conf.write_text(f"Listen 127.0.0.1:{free_port()}\nServerName t\nDocumentRoot {tmp_path}\n"
                    "LoadModule example_module modules/mod_example.so\nExample\n"
                    "ExampleMessage hi\n")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    p = subprocess.run([sys.executable, "-m", "featherd", "-M", "-e", "debug", "-f", str(conf)],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert " example_module (shared)\n" in p.stdout
    assert ("mod_so.c: loaded module example_module from featherd_example:example_module"
            in p.stderr)
    assert p.stderr.endswith("Syntax OK\n")


def test_directive_errors(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    conf = tmp_path / "httpd.conf"
    for body, msg in (("Example extra\n", "Example takes no arguments"),
                      ("ExampleMessage\n",
                       "ExampleMessage takes one argument, A message shown by the "
                       "example-handler page")):
        conf.write_text("ServerName t\nLoadModule example_module modules/mod_example.so\n"
                        + body)
        p = subprocess.run([sys.executable, "-m", "featherd", "-t", "-f", str(conf)],
                           capture_output=True, text=True, env=env)
        assert p.returncode == 1
        assert p.stderr == f"Syntax error on line 3 of {conf}:\n{msg}\n"


def test_loadmodule_unknown_module(tmp_path: Path) -> None:
    """httpd: "Syntax error on line N of FILE: Cannot load ... into server: ...", exit 1."""
    conf = tmp_path / "httpd.conf"
    conf.write_text("ServerName t\nLoadModule nosuch_module modules/mod_nosuch.so\n")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    p = subprocess.run([sys.executable, "-m", "featherd", "-t", "-f", str(conf)],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 1
    full = f"{tmp_path}/modules/mod_nosuch.so"
    assert p.stderr == (f"featherd: Syntax error on line 2 of {conf}: Cannot load {full} into "
                        f"server: {full}: cannot open shared object file: No such file or "
                        "directory\n")
    assert p.stdout == ""


def test_loadmodule_runs_while_reading(tmp_path: Path) -> None:
    """As in httpd (LoadModule is EXEC_ON_READ), the module's directives may come before
    the LoadModule line; a misspelled one is still refused."""
    conf = tmp_path / "httpd.conf"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    conf.write_text("ServerName t\nExample\nLoadModule example_module modules/mod_example.so\n")
    p = subprocess.run([sys.executable, "-m", "featherd", "-t", "-f", str(conf)],
                       capture_output=True, text=True, env=env)
    assert (p.returncode, p.stderr) == (0, "Syntax OK\n")
    conf.write_text("ServerName t\nExampel\nLoadModule example_module modules/mod_example.so\n")
    p = subprocess.run([sys.executable, "-m", "featherd", "-t", "-f", str(conf)],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 1 and "Invalid command 'Exampel'" in p.stderr


def test_api_surface_and_example_shape() -> None:
    """featherd.api exports what the guide names; mod_example hooks every phase."""
    from featherd_example import example_module

    import featherd.api as api

    for name in api.__all__:
        assert hasattr(api, name), name
    for name in ("Module", "ArgSpec", "Context", "Override", "UNSET", "unset_field", "OK",
                 "DECLINED", "DONE", "REALLY_FIRST", "REALLY_LAST", "Request", "Headers",
                 "EOS", "FileBucket", "pass_brigade", "add_output_filter",
                 "FTYPE_CONTENT_SET", "lookup_uri", "internal_redirect", "HTTPError",
                 "DirectiveError", "lookup_provider"):
        assert name in api.__all__, name
    hooked = {name for name, _, _ in example_module.hooks}
    assert hooked >= {"post_config", "child_init", "pre_connection", *AUTH_PHASES,
                      "log_transaction"}
    assert {d.name for d in example_module.directives} == {"Example", "ExampleMessage"}
    assert [f[0] for f in example_module.output_filters] == ["EXAMPLE_TRACE"]
    assert [(g, n) for g, n, _ in example_module.providers] == [("authn", "example")]
