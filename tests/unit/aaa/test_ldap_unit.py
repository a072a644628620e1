"""mod_ldap / mod_authnz_ldap without sockets: URL parsing, filters, Require
ldap-attribute pairs, the caches (purge, byte budget, status page) and the directives'
configuration-time checks."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from featherd.config.merge import UNSET
from featherd.core.config import ServerConfigTree, load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules
from featherd.modules.aaa import authnz_ldap_search as search
from featherd.modules.aaa import ldap_cache
from featherd.modules.aaa import mod_authnz_ldap as az
from featherd.modules.aaa import mod_ldap as ul


def tree_of(tmp_path: Path, text: str) -> ServerConfigTree:
    return load_config(None, builtin_modules(), server_root=str(tmp_path),
                       text="ServerName unit.test\n" + text)


def dir_conf(tree: ServerConfigTree, mod: Any, i: int = 0) -> Any:
    confs = tree.merge_dir_confs(tree.main.lookup_defaults, tree.main.sec_dir[i].confs)
    return confs[mod.index]


# --- AuthLDAPURL --------------------------------------------------------------------------------
def test_parse_url_fields_and_defaults() -> None:
    u = search.parse_ldap_url("ldap://ldap1.airius.com:389/ou=People, o=Airius?uid?sub?(objectClass=*)")
    assert (u.host, u.port, u.basedn, u.attribute, u.scope, u.filter, u.secure) == \
        ("ldap1.airius.com:389", 389, "ou=People, o=Airius", "uid", search.SCOPE_SUB,
         "objectClass=*", -1)
    u = search.parse_ldap_url("ldap://ldap1.airius.com ldap2.airius.com/ou=People, o=Airius")
    assert u.host == "ldap1.airius.com ldap2.airius.com" and u.attribute == "uid"
    assert u.filter == "objectclass=*" and u.attributes is None
    u = search.parse_ldap_url("ldap:///o=Airius?cn,mail,telephoneNumber?one?qpagePagerID=*")
    assert u.host == "localhost" and u.attributes == ["cn", "mail", "telephoneNumber"]
    assert u.attribute == "cn" and u.scope == search.SCOPE_ONE and u.filter == "qpagePagerID=*"
    u = search.parse_ldap_url("ldaps://h/o=A%20B?uid?base?(%26(a=1)(b=2))")
    assert u.secure == ul.SSL_MODE and u.basedn == "o=A B"
    assert u.scope == search.SCOPE_SUB            # base scope is searched as sub
    assert u.filter == "&(a=1)(b=2)"


@pytest.mark.parametrize(("url", "err"), [
    ("http://x/o=A", 'URL doesn\'t begin with "ldap[si]://".'),
    ("ldap://h:abc/o=A", "Host port is invalid."),
    ("ldap://h/o=A?uid?bogus", "Invalid or missing scope string."),
    ("<ldap://h/o=A", 'URL is missing trailing ">".'),
    ("ldap://h/o=A?a,,b", "Invalid or missing attributes."),
])
def test_parse_url_errors(url: str, err: str) -> None:
    with pytest.raises(ValueError, match=err.replace("(", r"\(").replace("[", r"\[")):
        search.parse_ldap_url(url)


def _req(tree: Any = None, **headers: str) -> Any:
    return SimpleNamespace(tree=tree or object(), headers_in=headers)


def test_build_filter_escapes_and_limits() -> None:
    u = search.parse_ldap_url("ldap://h/o=A?cn?sub?(posixid=*)")
    assert search.build_filter(_req(), "Babs Jenson", None, u) == "(&(posixid=*)(cn=Babs Jenson))"
    assert search.build_filter(_req(), "a*(b)\\c", None, u) == \
        "(&(posixid=*)(cn=a\\2a\\28b\\29\\5cc))"
    assert search.build_filter(_req(), "x", "&(cell=*)(department=marketing)", u) == \
        "(&(&(cell=*)(department=marketing))(cn=x))"
    long = search.build_filter(_req(), "u" * 9000, None, u)
    assert len(long) < search.FILTER_LENGTH and not long.endswith("))")
    # the client's bytes reach the server as they are (UTF-8 here)
    assert search.build_filter(_req(), "jÃ¼rgen", None, u).endswith("(cn=jürgen))")


def test_charset_conversion(tmp_path: Path) -> None:
    (tmp_path / "charset.conv").write_text("# c\nde ISO-8859-1 German\nja SHIFT_JIS\n"
                                           "utf-8 UTF-8\n")
    tree = tree_of(tmp_path, f"AuthLDAPCharsetConfig {tmp_path}/charset.conv\n")
    raw = "j\xfcrgen"                          # ISO-8859-1 bytes, decoded as latin-1
    assert search.convert_user(_req(tree, **{"Accept-Language": "de-AT, en"}), raw) == "jürgen"
    assert search.convert_user(_req(tree, **{"Accept-Language": "fr"}), raw) == "j\ufffdrgen"
    sjis = "日本".encode("shift_jis").decode("latin-1")
    assert search.convert_user(_req(tree, **{"Accept-Language": "ja;q=1"}), sjis) == "日本"
    (tmp_path / "nou.conv").write_text("de ISO-8859-1\n")
    with pytest.raises(ConfigError, match="could not find the UTF-8 charset in the file"):
        tree_of(tmp_path, f"AuthLDAPCharsetConfig {tmp_path}/nou.conv\n")
    with pytest.raises(ConfigError, match="could not open charset conversion config file"):
        tree_of(tmp_path, f"AuthLDAPCharsetConfig {tmp_path}/missing.conv\n")


def test_attribute_pairs() -> None:
    assert search.attribute_pairs('city="San Jose" status=active') == \
        [("city", "San Jose"), ("status", "active")]
    assert search.attribute_pairs("employeeType=active") == [("employeeType", "active")]


# --- directives -------------------------------------------------------------------------------
def test_directives_fill_records(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, f"""\
LDAPSharedCacheSize 200000
LDAPSharedCacheFile logs/ldapcache
LDAPCacheEntries -1
LDAPCacheTTL 60
LDAPOpCacheEntries 77
LDAPOpCacheTTL 30
LDAPConnectionTimeout 3
LDAPVerifyServerCert off
LDAPTrustedMode STARTTLS
<Directory {tmp_path}>
  AuthLDAPURL "ldap://h/o=A?uid" SSL
  AuthLDAPBindDN cn=reader,o=A
  AuthLDAPBindPassword "exec:/bin/echo s3cret"
  AuthLDAPDereferenceAliases finding
  AuthLDAPGroupAttribute memberUid uniqueMember
  AuthLDAPGroupAttributeIsDN off
  AuthLDAPCompareDNOnServer on
  AuthLDAPRemoteUserIsDN on
  AuthLDAPRemoteUserAttribute mail
  AuthzLDAPAuthoritative off
  AuthLDAPBindAuthoritative off
</Directory>
""")
    st = tree.main.module_config[ul.ldap.index]
    assert (st.cache_bytes, st.cache_file, st.search_cache_size, st.search_cache_ttl,
            st.compare_cache_size, st.compare_cache_ttl, st.connection_timeout,
            st.verify_svr_cert, st.secure) == \
        (200000, f"{tmp_path}/logs/ldapcache", 0, 60, 77, 30, 3, False, ul.STARTTLS)
    c = dir_conf(tree, az.authnz_ldap)
    assert c.url.secure == ul.SSL_MODE and c.binddn == "cn=reader,o=A"
    assert c.bindpw == "s3cret" and c.deref == "finding"
    assert c.groupattr == ["memberUid", "uniqueMember"] and c.group_attrib_is_dn is False
    assert (c.compare_dn_on_server, c.user_is_dn, c.remote_user_attribute,
            c.auth_authoritative, c.bind_authoritative) == (True, True, "mail", False, False)


@pytest.mark.parametrize(("text", "err"), [
    ('AuthLDAPURL "ldap://h/o=A" FOO', "Invalid LDAP connection mode setting: must be one of "
                                       "NONE, SSL, or TLS/STARTTLS"),
    ("AuthLDAPURL http://h/", "URL doesn't begin with"),
    ("AuthLDAPDereferenceAliases sometimes", "Unrecognized value for "
                                             "AuthLDAPAliasDereference directive"),
    ("AuthLDAPGroupAttribute " + " ".join(f"a{i}" for i in range(12)),
     "Too many AuthLDAPGroupAttribute directives"),
    ("AuthLDAPBindPassword exec:/nonexistent/prog", "Unable to get bind password from exec"),
    ("LDAPTrustedClientCert CA_CERT7_DB /etc/hosts", "is only valid within a "
                                                     "LDAPTrustedGlobalCert directive"),
    ("LDAPTrustedClientCert BOGUS /etc/hosts", 'The certificate type "BOGUS" is not '
                                               "recognised"),
    ("LDAPTrustedClientCert CERT_BASE64 /nonexistent.pem",
     "Invalid client certificate file path"),
])
def test_directory_errors(tmp_path: Path, text: str, err: str) -> None:
    with pytest.raises(ConfigError, match=err.replace("(", r"\(")):
        tree_of(tmp_path, f"<Directory {tmp_path}>\n{text}\n</Directory>\n")


@pytest.mark.parametrize(("text", "err"), [
    ("LDAPTrustedMode SOMETIMES", "Invalid LDAPTrustedMode setting: must be one of NONE, SSL, "
                                  "or TLS/STARTTLS"),
    ("LDAPTrustedGlobalCert PEM /etc/hosts", "The certificate type PEM is not recognised"),
    ("LDAPTrustedGlobalCert CA_BASE64 /nonexistent.pem", "Invalid global certificate file path"),
    ("<VirtualHost *:80>\nLDAPCacheTTL 5\n</VirtualHost>",
     "LDAPCacheTTL cannot occur within <VirtualHost> section"),
    ("<VirtualHost *:80>\nLDAPTrustedGlobalCert CA_DER /etc/hosts\n</VirtualHost>",
     "LDAPTrustedGlobalCert cannot occur within <VirtualHost> section"),
    ("AuthLDAPURL ldap://h/", "AuthLDAPURL not allowed here"),
    ("<Directory />\nLDAPSharedCacheSize 5\n</Directory>", "LDAPSharedCacheSize not allowed here"),
])
def test_server_errors(tmp_path: Path, text: str, err: str) -> None:
    with pytest.raises(ConfigError, match=err):
        tree_of(tmp_path, text + "\n")


def test_vhost_trusted_mode_and_require_in_24_container(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, f"""\
<VirtualHost *:80>
  LDAPTrustedMode SSL
</VirtualHost>
<Directory {tmp_path}>
  <RequireAll>
    Require ldap-group cn=a,o=A
    Require not ldap-user bob
  </RequireAll>
</Directory>
""")
    assert tree.main.module_config[ul.ldap.index].secure is UNSET
    servers = [s for s in tree.all_servers() if s is not tree.main]
    assert servers and servers[0].module_config[ul.ldap.index].secure == ul.SSL_MODE


# --- caches -----------------------------------------------------------------------------------
def _cache(n: int = 8, size: int = 100000) -> tuple[ldap_cache.Cache, list[tuple[int, str]]]:
    logged: list[tuple[int, str]] = []
    return ldap_cache.Cache(n, ldap_cache.Budget(size, lambda lv, m: logged.append((lv, m)))), \
        logged


def test_cache_fullmark_and_purge() -> None:
    c, logged = _cache(4)
    assert c.fullmark == 3 and c.size == 73
    for i in range(4):
        assert c.insert(f"k{i}", f"v{i}") == f"v{i}"
    assert c.marktime > 0 and c.numpurges == 0
    c.insert("k4", "v4")                      # full: the entries before the mark go
    assert c.numpurges == 1 and "k0" not in c.nodes and "k1" not in c.nodes
    assert set(c.nodes) == {"k2", "k3", "k4"} and not logged
    assert c.fetch("k4") == "v4" and c.fetch("nope") is None
    assert (c.hits, c.fetches, c.inserts) == (1, 2, 5)
    c.remove("k4")
    assert c.removes == 1 and c.numentries == 2


def test_cache_byte_budget() -> None:
    c, logged = _cache(100, size=400)
    for i in range(10):
        c.insert(f"key{i}", "x" * 40)
    assert any("LDAPSharedCacheSize is too small" in m for _, m in logged)
    assert c.budget.used <= 400
    c2, logged2 = _cache(100, size=10)
    assert c2.insert("k", "v" * 100) is None
    assert (3, "Could not allocate memory for LDAP cache entry") in logged2


def test_state_and_display() -> None:
    st = ldap_cache.CacheState(500000, 16, 0, lambda lv, m: None)
    node = st.url_node("ldap://h/o=A?uid")
    assert node is not None and node.compare_cache is None
    assert st.url_node("ldap://h/o=A?uid") is node
    assert node.search_cache is not None
    node.search_cache.insert("(&(objectclass=*)(uid=a))",
                             ldap_cache.SearchNode("(&(objectclass=*)(uid=a))", "uid=a,o=A",
                                                   "pw", 0.0, None))
    page = ldap_cache.display(st, "/ldap-status", None)
    assert "LDAP URL Cache" in page and "ldap://h/o=A?uid (Searches)" in page
    assert "(Compares)" not in page
    detail = ldap_cache.display(st, "/s", "cache=srch&id=0&off=0")
    assert "(&amp;(objectclass=*)(uid=a))" in detail and "uid=a,o=A" in detail
    assert ldap_cache.display(st, "/s", "cache=zzzz&id=0&off=0") == ""
    assert ldap_cache.display(st, "/s", "garbage") == ""
    assert "Cache has not been enabled/initialised." in ldap_cache.display(None, "/s", None)


# --- connections ------------------------------------------------------------------------------
def test_connection_settings_reach_ldap3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import ldap3

    seen: list[dict[str, Any]] = []

    class FakeServer:
        def __init__(self, host: str, **kw: Any) -> None:
            seen.append({"host": host, **kw})

    class FakeConn:
        def __init__(self, server: Any, **kw: Any) -> None:
            pass

        def open(self) -> None:
            raise ldap3.core.exceptions.LDAPSocketOpenError("refused")

    monkeypatch.setattr(ldap3, "Server", FakeServer)
    monkeypatch.setattr(ldap3, "Connection", FakeConn)
    c = ul.Connection("a.example b.example:1389 [::1]:2389", 389, None, None, "ALWAYS",
                      ul.NONE, (), 3, True, ())
    assert c.open() == ul.LDAP_SERVER_DOWN
    assert [(s["host"], s["port"], s["connect_timeout"], s["use_ssl"]) for s in seen] == \
        [("a.example", 389, 3, False), ("b.example", 1389, 3, False), ("::1", 2389, 3, False)]
    seen.clear()
    c = ul.Connection("h", 636, None, None, "ALWAYS", ul.SSL_MODE,
                      (("CA_CERT7_DB", "/x", None),), 0, True, ())
    assert c.open() == ul.LDAP_CONNECT_ERROR and "Netscape" in c.reason and not seen


def test_err2string() -> None:
    assert ul.err2string(49) == "Invalid credentials"
    assert ul.err2string(-1) == "Can't contact LDAP server"
    assert ul.err2string(12345) == "Unknown error"
