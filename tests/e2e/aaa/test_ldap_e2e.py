"""mod_authnz_ldap + mod_ldap end to end: a real featherd protected by a real slapd
(tests/ldap_testlib.py). One featherd serves the matrix of Require types; the cache,
TLS, charset and .htaccess cases start their own."""

from __future__ import annotations

import re
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from featherd_testlib import Server, base_conf, free_port  # noqa: E402
from ldap_testlib import BASE, SKIP_REASON, Slapd, available  # noqa: E402

pytestmark = pytest.mark.skipif(not available(), reason=SKIP_REASON)

PEOPLE = f"ou=People,{BASE}"
GROUPS = f"ou=Groups,{BASE}"


@pytest.fixture(scope="module")
def slapd() -> Iterator[Slapd]:
    s = Slapd()
    yield s
    s.cleanup()


def _auth(path: str, url: str, body: str, provider: str = "ldap", mode: str = "") -> str:
    return (f"<Location {path}>\n  AuthType Basic\n  AuthName \"ldap test\"\n"
            f"  AuthBasicProvider {provider}\n  AuthLDAPURL \"{url}\" {mode}\n"
            + textwrap.indent(textwrap.dedent(body).strip(), "  ") + "\n</Location>\n")


def matrix_conf(s: Slapd, root: Path) -> str:
    dead = free_port()
    u = f"{s.url}/{PEOPLE}?uid"
    (root / "htpasswd").write_text("alice:{SHA}" + "T8C8/awoL4iqwQDp2y2vSDvIHdw=\n")
    sections = [
        _auth("/valid", u, "Require valid-user"),
        _auth("/user", u, "Require ldap-user alice carol"),
        _auth("/usercn", f"{s.url}/{PEOPLE}?cn", 'Require ldap-user "Alice Smith"'),
        _auth("/group", u, f"Require ldap-group cn=admins,{GROUPS}"),
        _auth("/ugroup", u, f"Require ldap-group cn=staff,{GROUPS}"),
        _auth("/posix", u, f"""AuthLDAPGroupAttribute memberUid
                              AuthLDAPGroupAttributeIsDN off
                              Require ldap-group cn=devs,{GROUPS}"""),
        _auth("/onlyunique", u, f"""AuthLDAPGroupAttribute uniqueMember
                                   Require ldap-group cn=admins,{GROUPS}"""),
        _auth("/dn", u, f"Require ldap-dn uid=bob,{PEOPLE}"),
        _auth("/dnlocal", u, "Require ldap-dn UID=bob, ou=people,dc=example,dc=com"),
        _auth("/dnserver", u, """AuthLDAPCompareDNOnServer on
                                Require ldap-dn UID=bob, ou=people,dc=example,dc=com"""),
        _auth("/attr", u, "Require ldap-attribute employeeType=active"),
        _auth("/attr2", u, 'Require ldap-attribute l="San Jose" employeeType=nobody'),
        _auth("/filter", u, "Require ldap-filter &(mobile=*)(departmentNumber=marketing)"),
        _auth("/urlfilter", f"{s.url}/{PEOPLE}?uid??(employeeType=active)",
              "Require valid-user"),
        _auth("/one", f"{s.url}/{PEOPLE}?uid?one", "Require valid-user"),
        _auth("/twins", f"{s.url}/ou=Twins,{BASE}?uid", "Require valid-user"),
        _auth("/hidden", f"{s.url}/ou=Hidden,{BASE}?uid", "Require valid-user"),
        _auth("/hiddenbind", f"{s.url}/ou=Hidden,{BASE}?uid", f"""AuthLDAPBindDN cn=reader,{BASE}
                                    AuthLDAPBindPassword readerpw
                                    Require valid-user"""),
        _auth("/hiddenexec", f"{s.url}/ou=Hidden,{BASE}?uid?sub?(cn=*)", f"""AuthLDAPBindDN cn=reader,{BASE}
                                    AuthLDAPBindPassword "exec:/bin/echo readerpw"
                                    Require valid-user"""),
        _auth("/badbind", f"{s.url}/ou=Hidden,{BASE}?uid?sub", f"""AuthLDAPBindDN cn=reader,{BASE}
                                    AuthLDAPBindPassword wrong
                                    Require valid-user"""),
        _auth("/always", f"{s.url}/ou=Aliases,{BASE}?uid?one", "Require valid-user"),
        _auth("/never", f"{s.url}/ou=Aliases,{BASE}?uid?one?(cn=*)", """AuthLDAPDereferenceAliases never
                                                             Require valid-user"""),
        _auth("/finding", f"{s.url}/ou=Aliases,{BASE}?uid?one?(sn=*)", """AuthLDAPDereferenceAliases finding
                                                             Require valid-user"""),
        _auth("/fallback", u, f"""AuthzLDAPAuthoritative off
                                 Require ldap-group cn=admins,{GROUPS}
                                 Require user bob"""),
        _auth("/nofallback", u, f"""Require ldap-group cn=admins,{GROUPS}
                                   Require user bob"""),
        _auth("/any24", u, f"""<RequireAny>
                                 Require ldap-group cn=admins,{GROUPS}
                                 Require ldap-attribute employeeType=contractor
                               </RequireAny>"""),
        _auth("/all24", u, f"""<RequireAll>
                                 Require ldap-group cn=staff,{GROUPS}
                                 Require not ldap-user erin
                               </RequireAll>"""),
        _auth("/dn24", u, f"""<RequireAny>
                                Require ldap-dn uid=carol,{PEOPLE}
                                Require ldap-filter &(mail=*)(cn=Erin*)
                              </RequireAny>"""),
        _auth("/fileauth", u, f"""AuthUserFile {root}/htpasswd
                                 Require ldap-group cn=admins,{GROUPS}""", provider="file"),
        _auth("/bindauth", u, f"""AuthUserFile {root}/htpasswd
                                 AuthLDAPBindAuthoritative off
                                 Require valid-user""", provider="ldap file"),
        _auth("/bindauthon", u, f"""AuthUserFile {root}/htpasswd
                                   Require valid-user""", provider="ldap file"),
        _auth("/redundant", f"ldap://127.0.0.1:{dead} 127.0.0.1:{s.port}/{PEOPLE}?uid",
              "Require valid-user"),
        _auth("/env", f"{s.url}/{PEOPLE}?uid,mail,cn,telephoneNumber",
              """Require valid-user
                 Header always set X-Mail "%{AUTHENTICATE_MAIL}e"
                 Header always set X-Cn "%{AUTHENTICATE_CN}e"
                 Header always set X-Uid "%{AUTHENTICATE_UID}e"
                 Header always set X-Tel "%{AUTHENTICATE_TELEPHONENUMBER}e" """),
        _auth("/rua", f"{s.url}/{PEOPLE}?uid,mail", """AuthLDAPRemoteUserAttribute mail
                                                    Require valid-user"""),
        _auth("/ruamissing", f"{s.url}/{PEOPLE}?uid", """AuthLDAPRemoteUserAttribute mail
                                                      Require valid-user"""),
        _auth("/ruadn", u, """AuthLDAPRemoteUserIsDN on
                             Require valid-user"""),
        _auth("/ruauser", f"{s.url}/{PEOPLE}?uid,mail", """AuthLDAPRemoteUserAttribute mail
                                                        Require user bob@example.com"""),
    ]
    return ("StartServers 1\nLogFormat \"%u %U %>s\" ufmt\nCustomLog logs/user_log ufmt\n"
            + "".join(sections))


@pytest.fixture(scope="module")
def matrix(slapd: Slapd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ldapmatrix")
    (root / "htdocs").mkdir()
    (root / "logs").mkdir()
    port = free_port()
    srv = Server(root, base_conf(port, matrix_conf(slapd, root)), port)
    srv.start()
    yield srv
    srv.stop()


A, B, C, E = ("alice", "alicepw"), ("bob", "bobpw"), ("carol", "carolpw"), ("erin", "erinpw")
H = ("hank", "hankpw")
CASES = [
    ("/valid", A, 200), ("/valid", ("alice", "nope"), 401), ("/valid", ("zed", "x"), 401),
    ("/valid", B, 200), ("/valid", E, 200), ("/valid", ("alice", ""), 401),
    ("/valid", None, 401), ("/valid", ("al*", "alicepw"), 401),
    ("/user", A, 200), ("/user", C, 200), ("/user", B, 401),
    ("/usercn", ("Babs", "alicepw"), 200), ("/usercn", ("Bob Jones", "bobpw"), 401),
    ("/group", A, 200), ("/group", B, 401),
    ("/ugroup", B, 200), ("/ugroup", E, 200), ("/ugroup", A, 401),
    ("/posix", C, 200), ("/posix", B, 200), ("/posix", A, 401),
    ("/onlyunique", A, 401),
    ("/dn", B, 200), ("/dn", A, 401),
    ("/dnlocal", B, 401), ("/dnserver", B, 200), ("/dnserver", A, 401),
    ("/attr", A, 200), ("/attr", C, 200), ("/attr", B, 401),
    ("/attr2", B, 200), ("/attr2", A, 401),
    ("/filter", B, 200), ("/filter", A, 401),
    ("/urlfilter", A, 200), ("/urlfilter", B, 401),
    ("/one", A, 200), ("/one", E, 401),
    ("/twins", ("twin", "twinpw"), 401),
    ("/hidden", H, 401), ("/hiddenbind", H, 200), ("/hiddenbind", ("hank", "x"), 401),
    ("/hiddenexec", H, 200), ("/badbind", H, 401),
    ("/always", A, 200), ("/never", A, 401), ("/finding", A, 401),
    ("/fallback", A, 200), ("/fallback", B, 200), ("/fallback", C, 401),
    ("/nofallback", A, 200), ("/nofallback", B, 401),
    ("/any24", A, 200), ("/any24", B, 200), ("/any24", C, 401),
    ("/all24", B, 200), ("/all24", E, 401), ("/all24", A, 401),
    ("/dn24", C, 200), ("/dn24", E, 200), ("/dn24", A, 401),
    ("/fileauth", ("alice", "filepw"), 200), ("/fileauth", ("alice", "alicepw"), 401),
    ("/bindauth", ("alice", "filepw"), 200), ("/bindauth", A, 200),
    ("/bindauthon", ("alice", "filepw"), 401),
    ("/redundant", A, 200),
]


@pytest.mark.parametrize(("path", "cred", "status"), CASES,
                         ids=[f"{p}-{c[0] if c else 'anon'}-{s}" for p, c, s in CASES])
def test_require_matrix(matrix: Server, path: str, cred: tuple[str, str] | None,
                        status: int) -> None:
    r = requests.get(matrix.url(path + "/"), auth=cred, timeout=10)
    # 404 means authorised: the directory does not exist
    assert (200 if r.status_code == 404 else r.status_code) == status, matrix.error_log()[-3000:]
    if status == 401:
        assert r.headers["WWW-Authenticate"] == 'Basic realm="ldap test"'


def test_error_log_lines(matrix: Server) -> None:
    requests.get(matrix.url("/valid/"), auth=("alice", "wrongpw"), timeout=10)
    requests.get(matrix.url("/valid/"), auth=("nosuch", "x"), timeout=10)
    requests.get(matrix.url("/group/"), auth=B, timeout=10)
    time.sleep(0.2)
    log = matrix.error_log()
    assert re.search(r"\[info\] \[client 127\.0\.0\.1\] \[\d+\] auth_ldap authenticate: user "
                     r"alice authentication failed; URI /valid/ \[ldap_simple_bind_s\(\) to "
                     r"check user credentials failed\]\[Invalid credentials\]", log)
    assert 'user alice: authentication failure for "/valid/": Password Mismatch' in log
    assert re.search(r"auth_ldap authenticate: user nosuch authentication failed; URI /valid/ "
                     r"\[User not found\]\[No such object\]", log)
    assert "user nosuch not found: /valid/" in log
    assert re.search(r"auth_ldap authorise: require group \"cn=admins,ou=Groups,dc=example,"
                     r"dc=com\": authorisation failed \[Comparison (false|no such attribute)",
                     log)
    assert "auth_ldap authorise: authorisation denied" in log


def test_authenticate_env_and_remote_user(matrix: Server) -> None:
    r = requests.get(matrix.url("/env/"), auth=A, timeout=10)
    assert r.headers["X-Mail"] == "alice@example.com"
    assert r.headers["X-Cn"] == "Alice Smith; Babs"
    assert r.headers["X-Uid"] == "alice"
    assert r.headers["X-Tel"] == "+1 555 0100"
    assert requests.get(matrix.url("/rua/"), auth=B, timeout=10).status_code == 404
    assert requests.get(matrix.url("/ruamissing/"), auth=C, timeout=10).status_code == 404
    assert requests.get(matrix.url("/ruadn/"), auth=E, timeout=10).status_code == 404
    assert requests.get(matrix.url("/ruauser/"), auth=B, timeout=10).status_code == 404
    assert requests.get(matrix.url("/ruauser/"), auth=A, timeout=10).status_code == 401
    log = matrix.access_log("user_log")
    deadline = time.monotonic() + 3
    while "/ruauser/ 401" not in log and time.monotonic() < deadline:
        time.sleep(0.1)
        log = matrix.access_log("user_log")
    assert "bob@example.com /rua/ 404" in log
    assert "carol /ruamissing/ 404" in log
    assert f"uid=erin,ou=Staff,{PEOPLE} /ruadn/ 404" in log
    assert "bob@example.com /ruauser/ 404" in log
    assert "REMOTE_USER was to be set with attribute 'mail', but this attribute was not " \
           "requested for in the LDAP query for the user." in matrix.error_log()


def _server(make_server, body: str) -> Server:
    return make_server("StartServers 1\n" + body)


def test_cache_hits_purge_and_server_down(make_server) -> None:
    s = Slapd()
    try:
        u = f"{s.url}/{PEOPLE}?uid"
        srv = _server(make_server, "LDAPCacheTTL 600\nLDAPOpCacheTTL 600\nLDAPCacheEntries 4\n"
                      + _auth("/g", u, f"Require ldap-group cn=admins,{GROUPS}")
                      + _auth("/v", u, "Require valid-user")
                      + "<Location /ldap-status>\n  SetHandler ldap-status\n</Location>\n")
        assert requests.get(srv.url("/g/"), auth=A, timeout=10).status_code == 404
        before = (s.ops("SRCH"), s.ops("CMP"), s.ops("BIND"))
        for _ in range(3):
            assert requests.get(srv.url("/g/"), auth=A, timeout=10).status_code == 404
        # search/bind and compare answered from the cache
        assert (s.ops("SRCH"), s.ops("CMP"), s.ops("BIND")) == before
        # a wrong password is never answered from the cache
        assert requests.get(srv.url("/g/"), auth=("alice", "x"), timeout=10).status_code == 401
        assert s.ops("SRCH") == before[0] + 1
        status = requests.get(srv.url("/ldap-status"), timeout=10).text
        assert "LDAP Cache Information" in status
        assert f"{u} (Searches)" in status and f"{u} (Compares)" in status
        detail = requests.get(srv.url("/ldap-status?cache=srch&id=0&off=0"), timeout=10).text
        assert "(&amp;(objectclass=*)(uid=alice))" in detail
        assert f"uid=alice,{PEOPLE}" in detail
        cmp = requests.get(srv.url("/ldap-status?cache=cmpr&id=0&off=0"), timeout=10).text
        assert "LDAP_COMPARE_TRUE" in cmp and f"cn=admins,{GROUPS}" in cmp
        main = requests.get(srv.url("/ldap-status?cache=main&id=0&off=0"), timeout=10).text
        assert "Max Entries:" in main and u in main
        # LDAPCacheEntries 4: the fifth user fills the search cache, which is purged
        for user, pw in (B, C, E, ("jürgen", "jpw")):
            assert requests.get(srv.url("/v/"), auth=(user.encode(), pw.encode()),
                                timeout=10).status_code == 404
        text = requests.get(srv.url("/ldap-status"), timeout=10).text
        row = next(line for line in text.split("<tr") if "(Searches)" in line)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[6] == "1"            # one purge, with its time in the next cell
        s.stop()                                               # the LDAP server goes away
        assert requests.get(srv.url("/v/"), auth=("jürgen".encode(), b"jpw"),
                            timeout=10).status_code == 404
        assert requests.get(srv.url("/g/"), auth=B, timeout=10).status_code == 500
        assert "[Can't contact LDAP server]" in srv.error_log()
        s.start()
        assert requests.get(srv.url("/g/"), auth=B, timeout=10).status_code == 401
    finally:
        s.cleanup()


def test_cache_ttls_entries_and_size(make_server) -> None:
    s = Slapd()
    try:
        u = f"{s.url}/{PEOPLE}?uid"
        # LDAPCacheTTL 0: every search goes to the server; LDAPOpCacheTTL 1: a compare
        # is remembered for one second
        srv = _server(make_server, "LDAPCacheTTL 0\nLDAPOpCacheTTL 1\n"
                      + _auth("/a", u, "Require ldap-attribute employeeType=active"))
        requests.get(srv.url("/a/"), auth=A, timeout=10)
        n_s, n_c = s.ops("SRCH"), s.ops("CMP")
        assert requests.get(srv.url("/a/"), auth=A, timeout=10).status_code == 404
        assert (s.ops("SRCH"), s.ops("CMP")) == (n_s + 1, n_c)
        time.sleep(1.1)
        requests.get(srv.url("/a/"), auth=A, timeout=10)
        assert s.ops("CMP") == n_c + 1
        srv.stop()
        # LDAPSharedCacheSize 0: no cache at all (Apache 2.2)
        srv2 = _server(make_server, "LDAPSharedCacheSize 0\nLDAPCacheEntries 5\n"
                       + _auth("/g", u, "Require valid-user")
                       + "<Location /ldap-status>\n  SetHandler ldap-status\n</Location>\n")
        requests.get(srv2.url("/g/"), auth=A, timeout=10)
        n = s.ops("SRCH")
        assert requests.get(srv2.url("/g/"), auth=A, timeout=10).status_code == 404
        assert s.ops("SRCH") == n + 1
        assert "Cache has not been enabled/initialised." in \
            requests.get(srv2.url("/ldap-status"), timeout=10).text
        srv2.stop()
        # a small LDAPSharedCacheSize runs out; LDAPOpCacheEntries 0: no compare cache
        srv3 = _server(make_server, "LDAPSharedCacheSize 1200\nLDAPCacheEntries 8\n"
                       "LDAPOpCacheEntries 0\nLDAPSharedCacheFile logs/ldap_cache\n"
                       + _auth("/g", u, "Require valid-user")
                       + _auth("/a", u, "Require ldap-attribute employeeType=active")
                       + "<Location /ldap-status>\n  SetHandler ldap-status\n</Location>\n")
        for user, pw in (A, B, C, E, ("jürgen", "jpw")):
            requests.get(srv3.url("/g/"), auth=(user.encode(), pw.encode()), timeout=10)
        assert "LDAPSharedCacheSize is too small. Increase it or reduce " \
               "LDAPCacheEntries/LDAPOpCacheEntries!" in srv3.error_log()
        page = requests.get(srv3.url("/ldap-status"), timeout=10).text
        assert "of 1200 bytes used" in page
        assert f"LDAPSharedCacheFile {srv3.root}/logs/ldap_cache" in page
        assert "(Compares)" not in page
        requests.get(srv3.url("/a/"), auth=A, timeout=10)
        n = s.ops("CMP")
        requests.get(srv3.url("/a/"), auth=A, timeout=10)
        assert s.ops("CMP") == n + 1
    finally:
        s.cleanup()


def test_charset_config(make_server, slapd: Slapd, tmp_path: Path) -> None:
    (tmp_path / "charset.conv").write_text("# lang charset\nde ISO-8859-1 German\n"
                                           "ja SHIFT_JIS\nutf-8 UTF-8\n")
    u = f"{slapd.url}/{PEOPLE}?uid"
    body = _auth("/g", u, "Require ldap-user jürgen")
    raw = "jürgen:jpw".encode("latin-1")
    import base64
    hdr = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    srv = _server(make_server, f"AuthLDAPCharsetConfig {tmp_path}/charset.conv\n" + body)
    de = {**hdr, "Accept-Language": "de-DE,de;q=0.8"}
    assert requests.get(srv.url("/g/"), headers=de, timeout=10).status_code == 404
    assert requests.get(srv.url("/g/"), headers=hdr, timeout=10).status_code == 401
    utf8 = {"Authorization": "Basic " + base64.b64encode("jürgen:jpw".encode()).decode()}
    assert requests.get(srv.url("/g/"), headers=utf8, timeout=10).status_code == 404
    srv.stop()
    (tmp_path / "bad.conv").write_text("de ISO-8859-1\n")
    bad = make_server(f"AuthLDAPCharsetConfig {tmp_path}/bad.conv\n", start=False)
    with pytest.raises(RuntimeError, match="could not find the UTF-8 charset"):
        bad.start()


def test_htaccess_authconfig(make_server, slapd: Slapd) -> None:
    u = f"{slapd.url}/{PEOPLE}?uid"
    ht = (f"AuthType Basic\nAuthName ht\nAuthBasicProvider ldap\nAuthLDAPURL {u}\n"
          f"AuthLDAPGroupAttribute uniqueMember\nRequire ldap-group cn=staff,{GROUPS}\n")
    srv = make_server("StartServers 1\n<Directory @ROOT@/htdocs>\n  AllowOverride AuthConfig\n"
                      "</Directory>\n<Directory @ROOT@/htdocs/bad>\n  AllowOverride AuthConfig\n"
                      "</Directory>\n",
                      files={"htdocs/p/.htaccess": ht, "htdocs/p/f.txt": "x",
                             "htdocs/bad/.htaccess": "LDAPTrustedMode TLS\n",
                             "htdocs/bad/f.txt": "x"})
    assert requests.get(srv.url("/p/f.txt"), auth=B, timeout=10).status_code == 200
    assert requests.get(srv.url("/p/f.txt"), auth=A, timeout=10).status_code == 401
    assert requests.get(srv.url("/bad/f.txt"), timeout=10).status_code == 500
    assert "LDAPTrustedMode not allowed here" in srv.error_log()


def test_tls_ssl_starttls(make_server, slapd: Slapd) -> None:
    pki = slapd.pki
    ldaps = f"{slapd.ldaps_url}/{PEOPLE}?uid"
    plain = f"{slapd.url}/{PEOPLE}?uid"
    srv = _server(make_server, f"LDAPTrustedGlobalCert CA_DER {pki}/ca.der\n"
                  "LDAPTrustedMode TLS\n"
                  + _auth("/ldaps", ldaps, "Require valid-user")
                  + _auth("/ssl", f"ldap://127.0.0.1:{slapd.ldaps_port}/{PEOPLE}?uid,cn",
                          "Require valid-user", mode="SSL")
                  + _auth("/tls", plain + ",mail", "Require valid-user", mode="TLS")
                  + _auth("/starttls", plain + ",sn", "Require valid-user", mode="STARTTLS")
                  + _auth("/trustedmode", plain + ",l", "Require valid-user")
                  + _auth("/none", plain + ",o", "Require valid-user", mode="NONE")
                  + _auth("/b64", ldaps + ",cn", f"""LDAPTrustedClientCert CA_BASE64 {pki}/ca.pem
                          Require valid-user""")
                  + _auth("/untrusted", ldaps + ",sn",
                          f"""LDAPTrustedClientCert CA_BASE64 {pki}/other-ca.pem
                          Require valid-user"""))
    # /starttls and /trustedmode reuse the pooled connection /tls upgraded
    for p, starttls in (("/ldaps", 0), ("/ssl", 0), ("/tls", 1), ("/starttls", 0),
                        ("/trustedmode", 0), ("/none", 0), ("/b64", 0)):
        n = slapd.ops("EXT")
        assert requests.get(srv.url(p + "/"), auth=A, timeout=10).status_code == 404, p
        assert slapd.ops("EXT") == n + starttls, p     # the StartTLS extended operation
    # a server certificate no configured CA signed: the connection fails
    assert requests.get(srv.url("/untrusted/"), auth=A, timeout=10).status_code == 500
    assert re.search(r"auth_ldap authenticate: user alice authentication failed; URI "
                     r"/untrusted/ \[LDAP: ldap initialization failed\]\[(Connect error|"
                     r"Can't contact LDAP server)\]", srv.error_log())
    srv.stop()
    srv = _server(make_server, f"LDAPTrustedGlobalCert CA_BASE64 {pki}/other-ca.pem\n"
                  "LDAPVerifyServerCert Off\n" + _auth("/ldaps", ldaps, "Require valid-user"))
    assert requests.get(srv.url("/ldaps/"), auth=A, timeout=10).status_code == 404


def test_client_certificates(make_server, slapd: Slapd) -> None:
    strict = Slapd(mtls=True, pki_dir=slapd.pki)    # TLSVerifyClient demand
    try:
        pki = slapd.pki
        ldaps = f"{strict.ldaps_url}/{PEOPLE}?uid"
        srv = _server(make_server, f"LDAPTrustedGlobalCert CA_BASE64 {pki}/ca.pem\n"
                      + _auth("/nocert", ldaps, "Require valid-user")
                      + _auth("/pem", ldaps, f"""LDAPTrustedClientCert CERT_BASE64 {pki}/client.pem
                              LDAPTrustedClientCert KEY_BASE64 {pki}/client.key
                              LDAPTrustedClientCert CA_BASE64 {pki}/ca.pem
                              Require valid-user""")
                      + _auth("/der", ldaps + ",cn", f"""LDAPTrustedClientCert CERT_DER {pki}/client.der
                              LDAPTrustedClientCert KEY_DER {pki}/client-key.der
                              LDAPTrustedClientCert CA_DER {pki}/ca.der
                              Require valid-user""")
                      + _auth("/noca", ldaps + ",sn", f"""LDAPTrustedClientCert CERT_BASE64 {pki}/client.pem
                              LDAPTrustedClientCert KEY_BASE64 {pki}/client.key
                              Require valid-user"""))
        assert requests.get(srv.url("/nocert/"), auth=A, timeout=10).status_code == 500
        assert requests.get(srv.url("/pem/"), auth=A, timeout=10).status_code == 404
        assert requests.get(srv.url("/der/"), auth=A, timeout=10).status_code == 404
        # per-directory certificates supersede the global ones: no CA, no trust
        assert requests.get(srv.url("/noca/"), auth=A, timeout=10).status_code == 500
    finally:
        strict.cleanup()
