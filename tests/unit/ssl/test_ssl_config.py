"""mod_ssl's directives: argument checks, contexts, merging (manual: mod_ssl; 2.2's
ssl_engine_config.c wording)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from featherd.config.merge import UNSET
from featherd.core.config import load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules
from featherd.modules.ssl import config as C
from featherd.modules.ssl import ssl_module


def load(tmp_path: Path, text: str) -> Any:
    return load_config(None, builtin_modules(), server_root=str(tmp_path), text=text)


def err(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, text)
    return str(e.value)


def test_ssl_module_is_builtin_and_listed() -> None:
    mods = {m.name for m in builtin_modules()}
    assert "ssl_module" in mods
    names = {d.name for d in ssl_module.directives}
    for d in ("SSLEngine", "SSLCertificateFile", "SSLCertificateKeyFile",
              "SSLCertificateChainFile", "SSLCACertificateFile", "SSLCACertificatePath",
              "SSLCADNRequestFile", "SSLCADNRequestPath", "SSLCARevocationFile",
              "SSLCARevocationPath", "SSLCipherSuite", "SSLCryptoDevice", "SSLHonorCipherOrder",
              "SSLMutex", "SSLOptions", "SSLPassPhraseDialog", "SSLProtocol",
              "SSLProxyCACertificateFile", "SSLProxyCACertificatePath",
              "SSLProxyCARevocationFile", "SSLProxyCARevocationPath", "SSLProxyCipherSuite",
              "SSLProxyEngine", "SSLProxyMachineCertificateFile",
              "SSLProxyMachineCertificatePath", "SSLProxyProtocol", "SSLProxyVerify",
              "SSLProxyVerifyDepth", "SSLRandomSeed", "SSLRequire", "SSLRequireSSL",
              "SSLSessionCache", "SSLSessionCacheTimeout", "SSLUserName", "SSLVerifyClient",
              "SSLVerifyDepth", "SSLInsecureRenegotiation", "SSLStrictSNIVHostCheck"):
        assert d in names, d


def test_protocol_lists() -> None:
    warns: list[str] = []
    assert C.parse_protocols("SSLProtocol", ["all"], warns.append) == C.PROTOCOL_ALL
    assert C.parse_protocols("SSLProtocol", ["all", "-SSLv3"], warns.append) == C.PROTOCOL_ALL
    assert C.parse_protocols("SSLProtocol", ["TLSv1.2", "+TLSv1.3"], warns.append) == \
        {"TLSv1.2", "TLSv1.3"}
    assert C.parse_protocols("SSLProtocol", ["all", "-TLSv1", "-tlsv1.1"], warns.append) == \
        {"TLSv1.2", "TLSv1.3"}
    assert warns == []
    assert C.parse_protocols("SSLProtocol", ["+SSLv3", "TLSv1.2"], warns.append) == \
        {"TLSv1.2"}
    assert warns and "SSLv3 is not supported" in warns[0]
    with pytest.raises(Exception, match="SSLProtocol: Illegal protocol 'TLSv9'"):
        C.parse_protocols("SSLProtocol", ["TLSv9"], warns.append)


def test_options_merge_like_apache() -> None:
    base = C.parse_options(["+StdEnvVars", "+ExportCertData"], None)
    child = C.parse_options(["-ExportCertData", "+FakeBasicAuth"], None)
    m = C.merge_options(base, child)
    assert m.has(C.Opt.STDENVVARS) and m.has(C.Opt.FAKEBASICAUTH)
    assert not m.has(C.Opt.EXPORTCERTDATA)
    absolute = C.parse_options(["StrictRequire"], None)          # no +/-: replaces
    m2 = C.merge_options(m, absolute)
    assert m2.has(C.Opt.STRICTREQUIRE) and not m2.has(C.Opt.STDENVVARS)
    with pytest.raises(Exception, match="SSLOptions: Illegal option 'Bogus'"):
        C.parse_options(["Bogus"], None)


def test_session_cache_specs(tmp_path: Path) -> None:
    rel = lambda p: str(tmp_path / p) if not p.startswith("/") else p  # noqa: E731
    assert C.parse_session_cache("none", rel).kind == "none"
    assert C.parse_session_cache("nonenotnull", rel).kind == "nonenotnull"
    s = C.parse_session_cache("shmcb:logs/scache(1024000)", rel)
    assert (s.kind, s.path, s.size) == ("shmcb", str(tmp_path / "logs/scache"), 1024000)
    assert C.parse_session_cache("shm:/x", rel).size == C.SCACHE_DEFAULT_SIZE
    assert C.parse_session_cache("dbm:/var/x", rel) == C.CacheSpec("dbm", "/var/x")
    with pytest.raises(Exception, match="size has to be >= 8192 bytes"):
        C.parse_session_cache("shmcb:/x(100)", rel)
    with pytest.raises(Exception, match="SSLSessionCache: Invalid argument"):
        C.parse_session_cache("memcache:x", rel)


@pytest.mark.parametrize("text,message", [
    ("SSLEngine maybe", "Argument must be On, Off, or Optional"),
    ("SSLVerifyClient sometimes", "SSLVerifyClient: Invalid argument 'sometimes'"),
    ("SSLVerifyDepth -1", "SSLVerifyDepth: Invalid argument '-1'"),
    ("SSLSessionCacheTimeout x", "SSLSessionCacheTimeout: Invalid argument"),
    ("SSLMutex spinlock", "SSLMutex: Invalid argument spinlock"),
    ("SSLPassPhraseDialog exec:/nonexistent/prog",
     "SSLPassPhraseDialog: file '/nonexistent/prog' does not exist"),
    ("SSLPassPhraseDialog ask", "SSLPassPhraseDialog: Invalid argument"),
    ("SSLRandomSeed sometime builtin", "SSLRandomSeed: invalid context: `sometime'"),
    ("SSLRandomSeed startup file:/nonexistent/rand",
     "SSLRandomSeed: source path '/nonexistent/rand' does not exist"),
    ("SSLRandomSeed startup magic", "SSLRandomSeed: invalid source: `magic'"),
    ("SSLCACertificateFile /nonexistent/ca.pem",
     "SSLCACertificateFile: file '/nonexistent/ca.pem' does not exist or is empty"),
    ("SSLCACertificatePath /nonexistent/dir",
     "SSLCACertificatePath: directory '/nonexistent/dir' does not exist"),
    ("SSLCryptoDevice nosuchengine", "SSLCryptoDevice: Invalid argument; must be one of: "
                                     "'builtin' (none)"),
    ("<VirtualHost *:443>\nSSLPassPhraseDialog builtin\n</VirtualHost>",
     "SSLPassPhraseDialog cannot occur within <VirtualHost> section"),
    ("SSLRequireSSL", "SSLRequireSSL not allowed here"),
    ("<Location />\nSSLCipherSuite TLSv1.3 TLS_AES_128_GCM_SHA256\n</Location>",
     "SSLCipherSuite: TLSv1.3 ciphers cannot be set inside a directory context"),
    ("<Location />\nSSLRequire %{A} ==\n</Location>", "SSLRequire: Parser error: syntax error"),
    ("SSLRenegBufferSize 10", "SSLRenegBufferSize not allowed here"),
    # optional (RFC 2817 upgrade) needs a certificate as much as on
    ("SSLEngine optional", "Server should be SSL-aware but has no certificate "
                           "configured [Hint: SSLCertificateFile]"),
    ("SSLEngine maybe", "Argument must be On, Off, or Optional"),
    ("SSLFIPS on\nSSLFIPS off", "Conflicting SSLFIPS options, cannot be both On and Off"),
])
def test_directive_errors(tmp_path: Path, text: str, message: str) -> None:
    assert message in err(tmp_path, text + "\n")


def test_server_and_directory_values(tmp_path: Path) -> None:
    tree = load(tmp_path, "SSLVerifyClient optional\nSSLVerifyDepth 3\n"
                          "SSLCipherSuite HIGH\nSSLOptions +StdEnvVars\n"
                          "<Location /x>\nSSLVerifyClient require\nSSLVerifyDepth 2\n"
                          "SSLCipherSuite AES256-SHA\nSSLOptions -StdEnvVars +FakeBasicAuth\n"
                          "SSLRequire true\nSSLRequire %{HTTPS} == \"on\"\n"
                          "SSLUserName SSL_CLIENT_S_DN_CN\nSSLRenegBufferSize 1000\n"
                          "</Location>\n")
    sc = ssl_module.sconf(tree.main)
    assert (sc.verify_client, sc.verify_depth, sc.cipher_suite) == ("optional", 3, "HIGH")
    dc = tree.main.lookup_defaults[ssl_module.index]
    assert dc.verify_client is UNSET
    assert dc.options.has(C.Opt.STDENVVARS)
    sec = tree.main.sec_url[0].confs[ssl_module.index]
    assert (sec.verify_client, sec.verify_depth, sec.cipher_suite) == ("require", 2,
                                                                       "AES256-SHA")
    assert [r.text for r in sec.requires] == ["true", '%{HTTPS} == "on"']
    assert sec.user_name == "SSL_CLIENT_S_DN_CN" and sec.reneg_buffer_size == 1000


def test_global_directives_go_to_the_main_server(tmp_path: Path) -> None:
    (tmp_path / "pp").write_text("#!/bin/sh\necho x\n")
    tree = load(tmp_path, f"SSLPassPhraseDialog exec:{tmp_path}/pp\n"
                          "SSLRandomSeed startup builtin\nSSLRandomSeed connect "
                          "file:/dev/urandom 32\nSSLSessionCache shmcb:logs/c(65536)\n"
                          "SSLSessionCacheTimeout 60\nSSLMutex default\n"
                          "SSLCryptoDevice builtin\n")
    sc = ssl_module.sconf(tree.main)
    assert sc.pphrase == C.DialogSpec("exec", f"{tmp_path}/pp")
    assert [s.context for s in sc.seeds] == ["startup", "connect"]
    assert sc.seeds[1] == C.SeedSpec("connect", "file", "/dev/urandom", 32)
    assert sc.session_cache.kind == "shmcb" and sc.session_timeout == 60
    assert sc.mutex == C.MutexSpec("sem") and sc.crypto_device == "builtin"


def test_vhosts_inherit_the_main_server(tmp_path: Path) -> None:
    tree = load(tmp_path, "SSLProtocol TLSv1.2\nSSLHonorCipherOrder on\n"
                          "<VirtualHost 127.0.0.1:8443>\nSSLEngine off\nSSLProtocol all\n"
                          "</VirtualHost>\n<VirtualHost 127.0.0.1:8444>\n</VirtualHost>\n")
    v1, v2 = (ssl_module.sconf(v) for v in tree.vhosts)
    assert v1.protocols == C.PROTOCOL_ALL and v1.honor_order is True
    assert v2.protocols == {"TLSv1.2"}


def test_optional_function_for_other_modules(tmp_path: Path) -> None:
    tree = load(tmp_path, "")
    from featherd.modules.ssl import is_https, ssl_var_lookup

    assert tree.extra["ssl_var_lookup"] is ssl_var_lookup
    assert tree.extra["ssl_is_https"] is is_https
