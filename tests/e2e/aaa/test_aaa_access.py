"""mod_authz_host (Order/Allow/Deny, 2.2 manual) and the 2.4 Require forms (mod_authz_core,
mod_authz_host 2.4), end to end. Clients come from 127.0.0.1."""

from __future__ import annotations

import socket

import requests

ROOT = "@ROOT@/htdocs"

FILES = {f"htdocs/{d}/index.html": d for d in (
    "open", "denyall", "allowlocal", "partial", "cidr", "mask", "other", "mutual", "mutual2",
    "envallow", "envnot", "limit", "limitexcept", "host", "badhost", "inherit", "inherit/sub",
    "ht", "r_granted", "r_denied", "r_ip", "r_ipno", "r_env", "r_method", "r_all", "r_none",
    "r_local", "r_host", "r_not", "merge", "merge/and", "merge/or", "compat",
)}


def conf() -> str:
    d = ROOT
    return f"""
    SetEnvIf User-Agent ^letmein let_me_in
    <Directory {d}/denyall>
      Order allow,deny
    </Directory>
    <Directory {d}/allowlocal>
      Order deny,allow
      Deny from all
      Allow from 127.0.0.1
    </Directory>
    <Directory {d}/partial>
      Order deny,allow
      Deny from all
      Allow from 127
    </Directory>
    <Directory {d}/cidr>
      Order allow,deny
      Allow from 127.0.0.0/8
    </Directory>
    <Directory {d}/mask>
      Order allow,deny
      Allow from 127.0.0.0/255.0.0.0
    </Directory>
    <Directory {d}/other>
      Order allow,deny
      Allow from 10.0.0.0/8 192.168
    </Directory>
    <Directory {d}/mutual>
      Order mutual-failure
      Allow from 127.0.0.1
    </Directory>
    <Directory {d}/mutual2>
      Order mutual-failure
      Allow from 127.0.0.1
      Deny from 127.0.0.0/8
    </Directory>
    <Directory {d}/envallow>
      Order deny,allow
      Deny from all
      Allow from env=let_me_in
    </Directory>
    <Directory {d}/envnot>
      Order allow,deny
      Allow from env=!let_me_in
    </Directory>
    <Directory {d}/limit>
      <Limit POST>
        Order allow,deny
      </Limit>
    </Directory>
    <Directory {d}/limitexcept>
      <LimitExcept GET>
        Order deny,allow
        Deny from all
      </LimitExcept>
    </Directory>
    <Directory {d}/host>
      Order deny,allow
      Deny from all
      Allow from localhost
    </Directory>
    <Directory {d}/badhost>
      Order deny,allow
      Deny from all
      Allow from host.invalid
    </Directory>
    <Directory {d}/inherit>
      Order deny,allow
      Deny from all
    </Directory>
    <Directory {d}/inherit/sub>
      Allow from 10.0.0.1
    </Directory>
    <Directory {d}/r_granted>
      Require all granted
    </Directory>
    <Directory {d}/r_denied>
      Require all denied
    </Directory>
    <Directory {d}/r_ip>
      Require ip 10.1 127.0.0.0/8
    </Directory>
    <Directory {d}/r_ipno>
      Require ip 10.1 192.168.0.0/255.255.0.0
    </Directory>
    <Directory {d}/r_env>
      Require env let_me_in
    </Directory>
    <Directory {d}/r_method>
      Require method GET POST
    </Directory>
    <Directory {d}/r_all>
      <RequireAll>
        Require ip 127.0.0.1
        Require not env let_me_in
      </RequireAll>
    </Directory>
    <Directory {d}/r_none>
      <RequireAll>
        Require all granted
        <RequireNone>
          Require env let_me_in
        </RequireNone>
      </RequireAll>
    </Directory>
    <Directory {d}/r_local>
      Require local
    </Directory>
    <Directory {d}/r_host>
      Require host localhost
    </Directory>
    <Directory {d}/r_not>
      <RequireAny>
        Require ip 10.0.0.0/8
        <RequireAll>
          Require all granted
          Require not ip 127.0.0.2
        </RequireAll>
      </RequireAny>
    </Directory>
    <Directory {d}/merge>
      Require env let_me_in
    </Directory>
    <Directory {d}/merge/and>
      AuthMerging And
      Require method GET
    </Directory>
    <Directory {d}/merge/or>
      AuthMerging Or
      Require method POST
    </Directory>
    <Directory {d}/compat>
      Order deny,allow
      Deny from all
      Require all granted
    </Directory>
    <Directory {d}/ht>
      AllowOverride Limit AuthConfig
    </Directory>
    """


def _localhost_is_127() -> bool:
    try:
        name = socket.gethostbyaddr("127.0.0.1")[0]
        return "127.0.0.1" in {i[4][0] for i in socket.getaddrinfo(name, None)} and \
            name.lower().startswith("localhost")
    except OSError:
        return False


def test_order_allow_deny(make_server) -> None:
    files = dict(FILES)
    files["htdocs/ht/.htaccess"] = "Order allow,deny\nAllow from 10.0.0.0/8\n"
    srv = make_server(conf(), files=files)

    def st(path: str, method: str = "GET", ua: str = "t") -> int:
        if path.endswith("/"):
            path += "index.html"
        return requests.request(method, srv.url(path), headers={"User-Agent": ua},
                                timeout=10).status_code

    assert st("/open/") == 200
    assert st("/denyall/") == 403
    assert st("/allowlocal/") == 200
    assert st("/partial/") == 200
    assert st("/cidr/") == 200
    assert st("/mask/") == 200
    assert st("/other/") == 403
    assert st("/mutual/") == 200
    assert st("/mutual2/") == 403
    assert st("/envallow/") == 403
    assert st("/envallow/", ua="letmein") == 200
    assert st("/envnot/") == 200
    assert st("/envnot/", ua="letmein") == 403
    # <Limit POST>: only POST is refused
    assert st("/limit/") == 200
    assert st("/limit/", "POST") == 403
    # <LimitExcept GET>: GET and HEAD pass, the rest is refused
    assert st("/limitexcept/") == 200
    assert st("/limitexcept/", "HEAD") == 200
    assert st("/limitexcept/", "POST") == 403
    # a section with its own Allow replaces its parent's rules (no merge in 2.2)
    assert st("/inherit/") == 403
    assert st("/inherit/sub/") == 200
    assert st("/ht/") == 403
    assert st("/badhost/") == 403
    if _localhost_is_127():
        assert st("/host/") == 200
    log = srv.error_log()
    assert f"client denied by server configuration: {srv.root}/htdocs/denyall/index.html" in log
    assert "[error]" in log


def test_require_24_forms(make_server) -> None:
    srv = make_server(conf(), files=FILES)

    def st(path: str, method: str = "GET", ua: str = "t") -> int:
        if path.endswith("/"):
            path += "index.html"
        return requests.request(method, srv.url(path), headers={"User-Agent": ua},
                                timeout=10).status_code

    assert st("/r_granted/") == 200
    assert st("/r_denied/") == 403
    assert st("/r_ip/") == 200
    assert st("/r_ipno/") == 403
    assert st("/r_env/") == 403
    assert st("/r_env/", ua="letmein") == 200
    assert st("/r_method/") == 200
    assert st("/r_method/", "HEAD") == 200
    assert st("/r_method/", "DELETE") == 403
    assert st("/r_all/") == 200
    assert st("/r_all/", ua="letmein") == 403
    assert st("/r_none/") == 200
    assert st("/r_none/", ua="letmein") == 403
    assert st("/r_local/") == 200
    assert st("/r_not/") == 200
    # AuthMerging: And needs both the parent's and the child's, Or either
    assert st("/merge/") == 403
    assert st("/merge/", ua="letmein") == 200
    assert st("/merge/and/", ua="letmein") == 200
    assert st("/merge/and/", "POST", ua="letmein") == 403
    assert st("/merge/and/") == 403
    assert st("/merge/or/", "POST") == 200
    assert st("/merge/or/", ua="letmein") == 200
    assert st("/merge/or/") == 403
    # 2.2's Deny and 2.4's Require both apply (Satisfy All)
    assert st("/compat/") == 403
    if _localhost_is_127():
        assert st("/r_host/") == 200
    assert f"client denied by server configuration: {srv.root}/htdocs/r_denied/index.html" in \
        srv.error_log()


def test_config_errors(tmp_path) -> None:
    from featherd.core.config import load_config
    from featherd.errors import ConfigError
    from featherd.modules import builtin_modules

    cases = [
        ("Order foo", "unknown order"),
        ("Allow to 127.0.0.1", "allow and deny must be followed by 'from'"),
        ("Allow from 1.2.3.4/99", "The specified network mask is invalid."),
        ("Allow from foo/24", "An IP address was expected"),
        ("Allow from 1.2.3.4.5", "The specified IP address is invalid."),
        ("Require all foo", "Argument for 'Require all' must be 'granted' or 'denied'"),
        ("Require ip 1.2.3.x", "ip address '1.2.3.x' appears to be invalid"),
        ("Require not ip 1.2.3.4",
         "negative Require directive has no effect in <RequireAny> directive"),
        ("<RequireAll>\nRequire not ip 1.2.3.4\n</RequireAll>",
         "<RequireAll> directive contains only negative authorization directives"),
        ("<RequireAll>\n</RequireAll>",
         "<RequireAll> directive contains no authorization directives"),
        ("<RequireNone>\nRequire ip 1.2.3.4\n</RequireNone>",
         "<RequireNone> directive has no effect in <RequireAny> directive"),
        ("<RequireAll>\nRequire foo\n</RequireAll>", "Unknown Authz provider: foo"),
        ("AuthMerging foo", "AuthMerging must be one of: Off | And | Or"),
    ]
    for body, msg in cases:
        text = f"<Directory {tmp_path}>\n{body}\n</Directory>\n"
        try:
            load_config(None, builtin_modules(), server_root=str(tmp_path), text=text)
        except ConfigError as e:
            assert msg in str(e), (body, str(e))
            assert "Syntax error on line" in str(e)
        else:
            raise AssertionError(f"accepted: {body}")
