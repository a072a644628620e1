"""mod_ssl's module record and directive table (mod_ssl.c, ssl_engine_config.c).

Every directive of the 2.2 manual page, with 2.2's contexts and argument checks, plus
the 2.2.12+/2.4 ones a current configuration uses (SSLStrictSNIVHostCheck,
SSLInsecureRenegotiation, SSLRenegBufferSize, SSLCompression, SSLSessionTickets,
SSLProxyCheckPeer*) and one featherd extension, ``SSLGenerateSelfSigned``. Directives
allowed both per server and per directory (SSLCipherSuite, SSLVerifyClient,
SSLVerifyDepth) keep their server value in the server record, as Apache does
(``cmd->path`` decides).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from featherd.config.directives import ArgSpec, Context, Override
from featherd.config.merge import UNSET
from featherd.core.module import Module
from featherd.errors import DirectiveError
from featherd.modules.ssl import config as C
from featherd.modules.ssl.config import SSLDirConfig, SSLServerConfig
from featherd.modules.ssl.expr import ExprError, compile_expr
from featherd.modules.ssl.vars import LOG_HANDLERS

if TYPE_CHECKING:
    from featherd.config.parser import CmdParms

ssl_module = Module("ssl_module", "mod_ssl.c", dir_config=SSLDirConfig,
                    server_config=SSLServerConfig,
                    description="Strong cryptography using the Secure Sockets Layer (SSL) "
                                "and Transport Layer Security (TLS) protocols")
ssl_module.log_handlers = LOG_HANDLERS  # type: ignore[attr-defined]

RSRC = Context.RSRC
SERVER = Context.SERVER
ALL = Context.ALL_DIR
DIRS = Context.DIR_HTACCESS
AUTH = Override.AUTHCFG


def _sc(cmd: CmdParms) -> SSLServerConfig:
    return ssl_module.sconf(cmd.server)  # type: ignore[no-any-return]


def _main(cmd: CmdParms) -> SSLServerConfig:
    return ssl_module.sconf(cmd.tree.main)  # type: ignore[no-any-return]


def _rel(cmd: CmdParms) -> Any:
    return cmd.server_root_relative


def _file(cmd: CmdParms, name: str, path: str, *, missing_ok: bool = False) -> str:
    """ssl_cmd_check_file: the ServerRoot-relative path of an existing, non-empty file."""
    p = cmd.server_root_relative(path)
    if os.path.isfile(p) and os.path.getsize(p) > 0:
        return p
    msg = f"{name}: file '{p}' does not exist or is empty"
    if not missing_ok:
        raise DirectiveError(msg)
    sc = _sc(cmd)
    sc.missing = [*(sc.missing or []), (msg, cmd.filename, cmd.line, p)]
    return p


def _dir(cmd: CmdParms, name: str, path: str) -> str:
    p = cmd.server_root_relative(path)
    if not os.path.isdir(p):
        raise DirectiveError(f"{name}: directory '{p}' does not exist")
    return p


# --- the server side ------------------------------------------------------------------------
@ssl_module.directive("SSLEngine", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLEngine on|off|optional",
                      help="SSL switch for the protocol engine (`on', `off', or `optional')")
def ssl_engine(cmd: CmdParms, conf: SSLServerConfig, arg: str) -> None:
    a = arg.lower()
    if a == "on":
        conf.enabled = True
    elif a == "off":
        conf.enabled = False
    elif a == "optional":
        conf.enabled = "optional"
    else:
        raise DirectiveError("Argument must be On, Off, or Optional")


@ssl_module.directive("SSLCertificateFile", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLCertificateFile file-path",
                      help="SSL Server Certificate file (`/path/to/file' - PEM or DER "
                           "encoded)")
def ssl_certificate_file(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.cert_files = [*(conf.cert_files or []),
                       _file(cmd, "SSLCertificateFile", path, missing_ok=True)]


@ssl_module.directive("SSLCertificateKeyFile", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLCertificateKeyFile file-path",
                      help="SSL Server Private Key file (`/path/to/file' - PEM or DER "
                           "encoded)")
def ssl_certificate_key_file(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.key_files = [*(conf.key_files or []),
                      _file(cmd, "SSLCertificateKeyFile", path, missing_ok=True)]


@ssl_module.directive("SSLCertificateChainFile", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLCertificateChainFile file-path",
                      help="SSL Server CA Certificate Chain file (`/path/to/file' - PEM "
                           "encoded)")
def ssl_certificate_chain_file(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.chain_file = _file(cmd, "SSLCertificateChainFile", path)


@ssl_module.directive("SSLCACertificateFile", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLCACertificateFile file-path",
                      help="SSL CA Certificate file (`/path/to/file' - PEM encoded)")
def ssl_ca_certificate_file(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.ca_file = _file(cmd, "SSLCACertificateFile", path)


@ssl_module.directive("SSLCACertificatePath", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLCACertificatePath directory-path",
                      help="SSL CA Certificate path (`/path/to/dir' - contains PEM encoded "
                           "files)")
def ssl_ca_certificate_path(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.ca_path = _dir(cmd, "SSLCACertificatePath", path)


@ssl_module.directive("SSLCADNRequestFile", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLCADNRequestFile file-path",
                      help="SSL CA Distinguished Name file (`/path/to/file' - PEM encoded)")
def ssl_ca_dn_request_file(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.ca_dn_file = _file(cmd, "SSLCADNRequestFile", path)


@ssl_module.directive("SSLCADNRequestPath", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLCADNRequestPath directory-path",
                      help="SSL CA Distinguished Name path (`/path/to/dir' - symlink hashes "
                           "to PEM of acceptable CA names to request)")
def ssl_ca_dn_request_path(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.ca_dn_path = _dir(cmd, "SSLCADNRequestPath", path)


@ssl_module.directive("SSLCARevocationFile", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLCARevocationFile file-path",
                      help="SSL CA Certificate Revocation List file (`/path/to/file' - PEM "
                           "encoded)")
def ssl_ca_revocation_file(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.crl_file = _file(cmd, "SSLCARevocationFile", path)


@ssl_module.directive("SSLCARevocationPath", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLCARevocationPath directory-path",
                      help="SSL CA Certificate Revocation List path (`/path/to/dir' - "
                           "contains PEM encoded files)")
def ssl_ca_revocation_path(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.crl_path = _dir(cmd, "SSLCARevocationPath", path)


@ssl_module.directive("SSLProtocol", args=ArgSpec.RAW_ARGS, context=RSRC,
                      syntax="SSLProtocol [+|-]protocol ...",
                      help="Enable or disable various SSL protocols (`[+-][SSLv2|SSLv3|TLSv1"
                           "|TLSv1.1|TLSv1.2|TLSv1.3] ...' - see manual)")
def ssl_protocol(cmd: CmdParms, conf: SSLServerConfig, raw: str) -> None:
    words = _words(raw, "SSLProtocol")
    conf.protocols = C.parse_protocols("SSLProtocol", words, cmd.warn)


def _words(raw: str, name: str) -> list[str]:
    from featherd.config.tree import split_args

    words = [w for w in split_args(raw) if w]
    if not words:
        raise DirectiveError(f"{name} requires at least one argument")
    return words


def _cipher_suite(name: str, args: tuple[str, str | None]) -> tuple[str, str]:
    """(protocol, spec): "SSL" for TLSv1.2 and below, "TLSv1.3" for the 1.3 suites."""
    a, b = args
    if b is None:
        return "SSL", a
    proto = a
    if proto.upper() in ("SSL", "TLSV1.2", "TLSV1.1", "TLSV1", "SSLV3"):
        return "SSL", b
    if proto.upper() == "TLSV1.3":
        return "TLSv1.3", b
    raise DirectiveError(f"{name}: protocol '{proto}' not supported")


@ssl_module.directive("SSLCipherSuite", args=ArgSpec.TAKE12, context=ALL, override=AUTH,
                      conf="dir", syntax="SSLCipherSuite [protocol] cipher-spec",
                      help="Colon-delimited list of permitted SSL Ciphers ('XXX:...:XXX' - "
                           "see manual)")
def ssl_cipher_suite(cmd: CmdParms, dc: SSLDirConfig, a: str, b: str | None) -> None:
    proto, spec = _cipher_suite("SSLCipherSuite", (a, b))
    if cmd.path is None:
        sc = _sc(cmd)
        if proto == "TLSv1.3":
            sc.tls13_suites = spec
        else:
            sc.cipher_suite = spec
        return
    if proto == "TLSv1.3":
        raise DirectiveError("SSLCipherSuite: TLSv1.3 ciphers cannot be set inside a "
                             "directory context")
    dc.cipher_suite = spec


@ssl_module.directive("SSLHonorCipherOrder", args=ArgSpec.FLAG, context=RSRC,
                      syntax="SSLHonorCipherOrder on|off",
                      help="Use the server's cipher ordering preference")
def ssl_honor_cipher_order(cmd: CmdParms, conf: SSLServerConfig, on: bool) -> None:
    conf.honor_order = on


@ssl_module.directive("SSLInsecureRenegotiation", args=ArgSpec.FLAG, context=RSRC,
                      syntax="SSLInsecureRenegotiation on|off",
                      help="Enable support for insecure renegotiation")
def ssl_insecure_renegotiation(cmd: CmdParms, conf: SSLServerConfig, on: bool) -> None:
    conf.insecure_reneg = on


@ssl_module.directive("SSLCompression", args=ArgSpec.FLAG, context=RSRC,
                      syntax="SSLCompression on|off",
                      help="Enable SSL level compression (`on', `off')")
def ssl_compression(cmd: CmdParms, conf: SSLServerConfig, on: bool) -> None:
    conf.compression = on


@ssl_module.directive("SSLSessionTickets", args=ArgSpec.FLAG, context=RSRC,
                      syntax="SSLSessionTickets on|off",
                      help="Enable or disable TLS session tickets")
def ssl_session_tickets(cmd: CmdParms, conf: SSLServerConfig, on: bool) -> None:
    conf.session_tickets = on


@ssl_module.directive("SSLStrictSNIVHostCheck", args=ArgSpec.FLAG, context=RSRC,
                      syntax="SSLStrictSNIVHostCheck on|off",
                      help="Strict SNI virtual host checking")
def ssl_strict_sni(cmd: CmdParms, conf: SSLServerConfig, on: bool) -> None:
    conf.strict_sni = on


@ssl_module.directive("SSLVerifyClient", args=ArgSpec.TAKE1, context=ALL, override=AUTH,
                      conf="dir", syntax="SSLVerifyClient none|optional|require|"
                                         "optional_no_ca",
                      help="SSL Client verify type (`none', `optional', `require', "
                           "`optional_no_ca')")
def ssl_verify_client(cmd: CmdParms, dc: SSLDirConfig, arg: str) -> None:
    level = C.parse_verify("SSLVerifyClient", arg)
    if cmd.path is None:
        _sc(cmd).verify_client = level
    else:
        dc.verify_client = level


@ssl_module.directive("SSLVerifyDepth", args=ArgSpec.TAKE1, context=ALL, override=AUTH,
                      conf="dir", syntax="SSLVerifyDepth number",
                      help="SSL Client verify depth (`N' - number of intermediate "
                           "certificates)")
def ssl_verify_depth(cmd: CmdParms, dc: SSLDirConfig, arg: str) -> None:
    depth = C.parse_depth("SSLVerifyDepth", arg)
    if cmd.path is None:
        _sc(cmd).verify_depth = depth
    else:
        dc.verify_depth = depth


@ssl_module.directive("SSLSessionCacheTimeout", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLSessionCacheTimeout seconds",
                      help="SSL Session Cache object lifetime (`N' - number of seconds)")
def ssl_session_cache_timeout(cmd: CmdParms, conf: SSLServerConfig, arg: str) -> None:
    try:
        n = int(arg)
    except ValueError:
        n = -1
    if n < 0:
        raise DirectiveError("SSLSessionCacheTimeout: Invalid argument")
    conf.session_timeout = n


@ssl_module.directive("SSLGenerateSelfSigned", args=ArgSpec.FLAG, context=RSRC,
                      syntax="SSLGenerateSelfSigned on|off  (featherd)",
                      help="make a self-signed certificate and key at start-up when the "
                           "SSLCertificateFile/SSLCertificateKeyFile do not exist yet")
def ssl_generate_self_signed(cmd: CmdParms, conf: SSLServerConfig, on: bool) -> None:
    conf.generate_self_signed = on


@ssl_module.directive("SSLSRPVerifierFile", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLSRPVerifierFile file-path",
                      help="SRP verifier file ('/path/to/file' - created by srptool)")
def ssl_srp_verifier_file(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.srp_vfile = _file(cmd, "SSLSRPVerifierFile", path)


@ssl_module.directive("SSLSRPUnknownUserSeed", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLSRPUnknownUserSeed secret-string",
                      help="SRP seed for unknown users (to avoid leaking a user's "
                           "existence) ('some secret text')")
def ssl_srp_unknown_user_seed(cmd: CmdParms, conf: SSLServerConfig, seed: str) -> None:
    conf.srp_seed = seed


# --- global ------------------------------------------------------------------------------
@ssl_module.directive("SSLFIPS", args=ArgSpec.FLAG, context=SERVER,
                      syntax="SSLFIPS on|off",
                      help="Enable FIPS-140 mode (`on', `off')")
def ssl_fips(cmd: CmdParms, conf: SSLServerConfig, on: bool) -> None:
    m = _main(cmd)
    if m.fips is not UNSET and m.fips != on:
        raise DirectiveError("Conflicting SSLFIPS options, cannot be both On and Off")
    m.fips = on


@ssl_module.directive("SSLPassPhraseDialog", args=ArgSpec.TAKE1, context=SERVER,
                      syntax="SSLPassPhraseDialog builtin|exec:/path/to/program|"
                             "|/path/to/program",
                      help="SSL dialog mechanism for the pass phrase query (`builtin', "
                           "`|/path/to/pipe_program`, or `exec:/path/to/cgi_program')")
def ssl_pass_phrase_dialog(cmd: CmdParms, conf: SSLServerConfig, arg: str) -> None:
    _main(cmd).pphrase = C.parse_dialog(arg, _rel(cmd))


@ssl_module.directive("SSLRandomSeed", args=ArgSpec.TAKE23, context=SERVER,
                      syntax="SSLRandomSeed startup|connect builtin|file:/path|exec:/path|"
                             "egd:/path [bytes]",
                      help="SSL Pseudo Random Number Generator (PRNG) seeding source "
                           "(`startup|connect builtin|file:/path|exec:/path [bytes]')")
def ssl_random_seed(cmd: CmdParms, conf: SSLServerConfig, ctx: str, src: str,
                    nbytes: str | None) -> None:
    m = _main(cmd)
    m.seeds = [*(m.seeds or []), C.parse_seed(ctx, src, nbytes, _rel(cmd))]


@ssl_module.directive("SSLSessionCache", args=ArgSpec.TAKE1, context=SERVER,
                      syntax="SSLSessionCache none|nonenotnull|dbm:/path|shmcb:/path[(size)]",
                      help="SSL Session Cache storage (`none', `nonenotnull', "
                           "`dbm:/path/to/file', `shmcb:/path/to/file[(size)]')")
def ssl_session_cache(cmd: CmdParms, conf: SSLServerConfig, arg: str) -> None:
    _main(cmd).session_cache = C.parse_session_cache(arg, _rel(cmd))


@ssl_module.directive("SSLMutex", args=ArgSpec.TAKE1, context=SERVER,
                      syntax="SSLMutex none|default|sem|file:/path|fcntl:/path|flock:/path",
                      help="SSL lock for handling internal mutual exclusions (`none', "
                           "`file:/path/to/file', `sem', `default')")
def ssl_mutex(cmd: CmdParms, conf: SSLServerConfig, arg: str) -> None:
    _main(cmd).mutex = C.parse_mutex(arg, _rel(cmd))


@ssl_module.directive("SSLCryptoDevice", args=ArgSpec.TAKE1, context=SERVER,
                      syntax="SSLCryptoDevice builtin|engine",
                      help="SSL external Crypto Device usage (`builtin', `...')")
def ssl_crypto_device(cmd: CmdParms, conf: SSLServerConfig, arg: str) -> None:
    from featherd.modules.ssl.init import crypto_engines

    if arg.lower() == "builtin":
        _main(cmd).crypto_device = "builtin"
        return
    engines = crypto_engines()
    if arg in engines:
        _main(cmd).crypto_device = arg
        return
    names = ", ".join(["'builtin' (none)", *(f"'{k}' ({v})" for k, v in engines.items())])
    raise DirectiveError(f"SSLCryptoDevice: Invalid argument; must be one of: {names}")


# --- per directory -----------------------------------------------------------------------------
@ssl_module.directive("SSLOptions", args=ArgSpec.RAW_ARGS, context=ALL,
                      override=Override.OPTIONS,
                      syntax="SSLOptions [+|-]option ...",
                      help="Set one or more options to configure the SSL engine"
                           "(`[+-]option[=value] ...' - see manual)")
def ssl_options(cmd: CmdParms, dc: SSLDirConfig, raw: str) -> None:
    cur = dc.options if dc.options is not UNSET else None
    dc.options = C.parse_options(_words(raw, "SSLOptions"), cur)


@ssl_module.directive("SSLRequireSSL", args=ArgSpec.NO_ARGS, context=DIRS, override=AUTH,
                      syntax="SSLRequireSSL",
                      help="Require the SSL protocol for the per-directory context "
                           "(no arguments)")
def ssl_require_ssl(cmd: CmdParms, dc: SSLDirConfig) -> None:
    dc.require_ssl = True


@ssl_module.directive("SSLRequire", args=ArgSpec.RAW_ARGS, context=DIRS, override=AUTH,
                      syntax="SSLRequire expression",
                      help="Require a boolean expression to evaluate to true for granting "
                           "access(arbitrary complex boolean expression - see manual)")
def ssl_require(cmd: CmdParms, dc: SSLDirConfig, raw: str) -> None:
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and \
            text.count(text[0]) == 2:
        text = text[1:-1]
    try:
        req = compile_expr(text)
    except ExprError as e:
        raise DirectiveError(f"SSLRequire: {e}") from None
    dc.requires = [*(dc.requires or []), req]


@ssl_module.directive("SSLUserName", args=ArgSpec.TAKE1, context=ALL, override=AUTH,
                      syntax="SSLUserName varname",
                      help="Set user name to SSL variable value")
def ssl_user_name(cmd: CmdParms, dc: SSLDirConfig, name: str) -> None:
    dc.user_name = name


@ssl_module.directive("SSLRenegBufferSize", args=ArgSpec.TAKE1, context=DIRS,
                      override=AUTH, syntax="SSLRenegBufferSize bytes",
                      help="Configure the amount of memory that will be used for buffering "
                           "the request body if a per-location SSL renegotiation is required "
                           "due to changed access control requirements")
def ssl_reneg_buffer_size(cmd: CmdParms, dc: SSLDirConfig, arg: str) -> None:
    try:
        n = int(arg)
    except ValueError:
        n = -1
    if n < 0:
        raise DirectiveError(f"Invalid size for SSLRenegBufferSize: {arg}")
    dc.reneg_buffer_size = n


# --- the client side (mod_proxy) --------------------------------------------------------------
@ssl_module.directive("SSLProxyEngine", args=ArgSpec.FLAG, context=RSRC,
                      syntax="SSLProxyEngine on|off",
                      help="SSL switch for the proxy protocol engine (`on', `off')")
def ssl_proxy_engine(cmd: CmdParms, conf: SSLServerConfig, on: bool) -> None:
    conf.proxy_engine = on


@ssl_module.directive("SSLProxyProtocol", args=ArgSpec.RAW_ARGS, context=RSRC,
                      syntax="SSLProxyProtocol [+|-]protocol ...",
                      help="SSL Proxy: enable or disable SSL protocol flavors (`[+-][SSLv2|"
                           "SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3] ...' - see manual)")
def ssl_proxy_protocol(cmd: CmdParms, conf: SSLServerConfig, raw: str) -> None:
    conf.proxy_protocols = C.parse_protocols("SSLProxyProtocol",
                                             _words(raw, "SSLProxyProtocol"), cmd.warn)


@ssl_module.directive("SSLProxyCipherSuite", args=ArgSpec.TAKE12, context=RSRC,
                      syntax="SSLProxyCipherSuite [protocol] cipher-spec",
                      help="SSL Proxy: colon-delimited list of permitted SSL ciphers "
                           "(`XXX:...:XXX' - see manual)")
def ssl_proxy_cipher_suite(cmd: CmdParms, conf: SSLServerConfig, a: str,
                           b: str | None) -> None:
    proto, spec = _cipher_suite("SSLProxyCipherSuite", (a, b))
    if proto == "TLSv1.3":
        conf.proxy_tls13_suites = spec
    else:
        conf.proxy_cipher_suite = spec


@ssl_module.directive("SSLProxyVerify", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLProxyVerify none|optional|require|optional_no_ca",
                      help="SSL Proxy: whether to verify the remote certificate (`on' or "
                           "`off')")
def ssl_proxy_verify(cmd: CmdParms, conf: SSLServerConfig, arg: str) -> None:
    conf.proxy_verify = C.parse_verify("SSLProxyVerify", arg)


@ssl_module.directive("SSLProxyVerifyDepth", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLProxyVerifyDepth number",
                      help="SSL Proxy: maximum certificate verification depth (`N' - "
                           "number of intermediate certificates)")
def ssl_proxy_verify_depth(cmd: CmdParms, conf: SSLServerConfig, arg: str) -> None:
    conf.proxy_verify_depth = C.parse_depth("SSLProxyVerifyDepth", arg)


@ssl_module.directive("SSLProxyCACertificateFile", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLProxyCACertificateFile file-path",
                      help="SSL Proxy: file containing server certificates (`/path/to/file' "
                           "- PEM encoded certificates)")
def ssl_proxy_ca_file(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.proxy_ca_file = _file(cmd, "SSLProxyCACertificateFile", path)


@ssl_module.directive("SSLProxyCACertificatePath", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLProxyCACertificatePath directory-path",
                      help="SSL Proxy: directory containing server certificates "
                           "(`/path/to/dir' - contains PEM encoded certificates)")
def ssl_proxy_ca_path(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.proxy_ca_path = _dir(cmd, "SSLProxyCACertificatePath", path)


@ssl_module.directive("SSLProxyCARevocationFile", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLProxyCARevocationFile file-path",
                      help="SSL Proxy: CA Certificate Revocation List file (`/path/to/file' "
                           "- PEM encoded)")
def ssl_proxy_crl_file(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.proxy_crl_file = _file(cmd, "SSLProxyCARevocationFile", path)


@ssl_module.directive("SSLProxyCARevocationPath", args=ArgSpec.TAKE1, context=RSRC,
                      syntax="SSLProxyCARevocationPath directory-path",
                      help="SSL Proxy: CA Certificate Revocation List path (`/path/to/dir' - "
                           "contains PEM encoded files)")
def ssl_proxy_crl_path(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.proxy_crl_path = _dir(cmd, "SSLProxyCARevocationPath", path)


@ssl_module.directive("SSLProxyMachineCertificateFile", args=ArgSpec.TAKE1, context=SERVER,
                      syntax="SSLProxyMachineCertificateFile filename",
                      help="SSL Proxy: file containing client certificates (`/path/to/file' "
                           "- PEM encoded certificates)")
def ssl_proxy_machine_file(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.proxy_machine_file = _file(cmd, "SSLProxyMachineCertificateFile", path)


@ssl_module.directive("SSLProxyMachineCertificatePath", args=ArgSpec.TAKE1, context=SERVER,
                      syntax="SSLProxyMachineCertificatePath directory",
                      help="SSL Proxy: directory containing client certificates "
                           "(`/path/to/dir' - contains PEM encoded certificates)")
def ssl_proxy_machine_path(cmd: CmdParms, conf: SSLServerConfig, path: str) -> None:
    conf.proxy_machine_path = _dir(cmd, "SSLProxyMachineCertificatePath", path)


@ssl_module.directive("SSLProxyCheckPeerCN", args=ArgSpec.FLAG, context=RSRC,
                      syntax="SSLProxyCheckPeerCN on|off",
                      help="SSL Proxy: check the peer certificate's CN")
def ssl_proxy_check_peer_cn(cmd: CmdParms, conf: SSLServerConfig, on: bool) -> None:
    conf.proxy_check_peer_cn = on


@ssl_module.directive("SSLProxyCheckPeerName", args=ArgSpec.FLAG, context=RSRC,
                      syntax="SSLProxyCheckPeerName on|off",
                      help="SSL Proxy: check the peer certificate's name")
def ssl_proxy_check_peer_name(cmd: CmdParms, conf: SSLServerConfig, on: bool) -> None:
    conf.proxy_check_peer_name = on


@ssl_module.directive("SSLProxyCheckPeerExpire", args=ArgSpec.FLAG, context=RSRC,
                      syntax="SSLProxyCheckPeerExpire on|off",
                      help="SSL Proxy: check the peer certificate's expiration date")
def ssl_proxy_check_peer_expire(cmd: CmdParms, conf: SSLServerConfig, on: bool) -> None:
    conf.proxy_check_peer_expire = on


__all__ = ["ssl_module"]
