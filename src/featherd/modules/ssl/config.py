"""mod_ssl's configuration records and the parsing of its directive arguments
(ssl_engine_config.c): SSLProtocol lists, SSLOptions with their +/- merge,
SSLVerifyClient levels, SSLSessionCache and SSLMutex specs, SSLRandomSeed sources.
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass, field
from typing import Any

from featherd.config.merge import UNSET, unset_field
from featherd.errors import DirectiveError

# --- SSLProtocol -------------------------------------------------------------------------
TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
OLD_VERSIONS = ("SSLv2", "SSLv3")
#: "all": every protocol this library can speak (SSLv2/SSLv3 are gone from it)
PROTOCOL_ALL = frozenset(TLS_VERSIONS)
_PROTO_NAMES = {p.lower(): p for p in (*OLD_VERSIONS, *TLS_VERSIONS)}


def parse_protocols(name: str, words: list[str], warn: Any) -> frozenset[str]:
    """ssl_cmd_protocol_parse: ``[+|-]protocol ...``; SSLv2/SSLv3 are refused with a
    warning (no modern SSL library speaks them)."""
    out: set[str] = set()
    for w in words:
        action = ""
        if w[:1] in "+-":
            action, w = w[0], w[1:]
        if w.lower() == "all":
            this = set(PROTOCOL_ALL)
        elif w.lower() in _PROTO_NAMES:
            p = _PROTO_NAMES[w.lower()]
            if p in OLD_VERSIONS:
                if action != "-":
                    warn(f"{name}: {p} is not supported by this SSL library (OpenSSL "
                         f"without {p}) and is ignored")
                continue
            this = {p}
        else:
            raise DirectiveError(f"{name}: Illegal protocol '{w}'")
        if action == "-":
            out -= this
        elif action == "+":
            out |= this
        else:
            out = set(this)
    return frozenset(out)


# --- SSLVerifyClient -----------------------------------------------------------------------
VERIFY_LEVELS = ("none", "optional", "require", "optional_no_ca")


def parse_verify(name: str, arg: str) -> str:
    a = arg.lower()
    if a in ("none", "off"):
        return "none"
    if a in ("optional",):
        return "optional"
    if a in ("require", "on"):
        return "require"
    if a == "optional_no_ca":
        return "optional_no_ca"
    raise DirectiveError(f"{name}: Invalid argument '{arg}'")


def parse_depth(name: str, arg: str) -> int:
    try:
        d = int(arg)
    except ValueError:
        d = -1
    if d < 0:
        raise DirectiveError(f"{name}: Invalid argument '{arg}'")
    return d


# --- SSLOptions ------------------------------------------------------------------------------
class Opt(enum.IntFlag):
    NONE = 0
    RELSET = 1 << 0
    STDENVVARS = 1 << 1
    EXPORTCERTDATA = 1 << 3
    FAKEBASICAUTH = 1 << 4
    STRICTREQUIRE = 1 << 5
    OPTRENEGOTIATE = 1 << 6
    LEGACYDNFORMAT = 1 << 7


OPTION_NAMES = {"stdenvvars": Opt.STDENVVARS, "exportcertdata": Opt.EXPORTCERTDATA,
                "fakebasicauth": Opt.FAKEBASICAUTH, "strictrequire": Opt.STRICTREQUIRE,
                "optrenegotiate": Opt.OPTRENEGOTIATE,
                "legacydnstringformat": Opt.LEGACYDNFORMAT}


@dataclass(slots=True, frozen=True)
class Options:
    """SSLOptions of one section: the options, the +added and -removed ones."""

    opts: Opt = Opt.RELSET
    add: Opt = Opt.NONE
    dele: Opt = Opt.NONE

    def has(self, o: Opt) -> bool:
        return bool(self.opts & o)


def parse_options(words: list[str], cur: Options | None) -> Options:
    """ssl_cmd_SSLOptions on the section's current value."""
    opts, add, dele = (cur.opts, cur.add, cur.dele) if cur is not None else \
        (Opt.RELSET, Opt.NONE, Opt.NONE)
    first = True
    for w in words:
        action = ""
        if w[:1] in "+-":
            action, w = w[0], w[1:]
        elif first:
            opts = Opt.NONE
            first = False
        o = OPTION_NAMES.get(w.lower())
        if o is None:
            raise DirectiveError(f"SSLOptions: Illegal option '{w}'")
        if action == "-":
            add &= ~o
            dele |= o
            opts &= ~o
        elif action == "+":
            add |= o
            dele &= ~o
            opts |= o
        else:
            opts = o
            add = o
            dele = Opt.NONE
    return Options(opts, add, dele)


def merge_options(base: Options, new: Options) -> Options:
    """ssl_config_perdir_merge for nOptions."""
    if new.opts & Opt.RELSET:
        add = (base.add & ~new.dele) | new.add
        dele = (base.dele & ~new.add) | new.dele
        return Options((base.opts & ~dele) | add, add, dele)
    return new


# --- SSLSessionCache / SSLMutex / SSLPassPhraseDialog / SSLRandomSeed -----------------------
SCACHE_DEFAULT_SIZE = 512000
_SIZE = re.compile(r"^(.*)\((\d+)\)$")


@dataclass(slots=True, frozen=True)
class CacheSpec:
    kind: str                  # none | nonenotnull | dbm | shmcb
    path: str = ""
    size: int = SCACHE_DEFAULT_SIZE


def parse_session_cache(arg: str, relative: Any) -> CacheSpec:
    a = arg
    low = a.lower()
    if low == "none":
        return CacheSpec("none")
    if low == "nonenotnull":
        return CacheSpec("nonenotnull")
    if low.startswith("dbm:"):
        return CacheSpec("dbm", relative(a[4:]))
    for prefix in ("shmcb:", "shmht:", "shm:"):
        if low.startswith(prefix):
            rest = a[len(prefix):]
            size = SCACHE_DEFAULT_SIZE
            m = _SIZE.match(rest)
            if m:
                rest, size = m.group(1), int(m.group(2))
                if size < 8192:
                    raise DirectiveError("SSLSessionCache: Invalid argument: size has to be "
                                         ">= 8192 bytes")
                if size >= 64 * 1024 * 1024:
                    raise DirectiveError("SSLSessionCache: Invalid argument: size has to be "
                                         f"< {64 * 1024 * 1024} bytes on this platform")
            return CacheSpec("shmcb", relative(rest), size)
    if low.startswith("dc:"):
        raise DirectiveError("SSLSessionCache: distcache support disabled")
    raise DirectiveError("SSLSessionCache: Invalid argument")


@dataclass(slots=True, frozen=True)
class MutexSpec:
    kind: str                  # none | sem | file
    path: str = ""


def parse_mutex(arg: str, relative: Any) -> MutexSpec:
    low = arg.lower()
    if low in ("none", "no"):
        return MutexSpec("none")
    if low in ("default", "yes", "sem", "posixsem", "sysvsem", "pthread"):
        return MutexSpec("sem")
    for prefix in ("file:", "fcntl:", "flock:"):
        if low.startswith(prefix):
            return MutexSpec("file", relative(arg[len(prefix):]))
    raise DirectiveError(f"SSLMutex: Invalid argument {arg}")


@dataclass(slots=True, frozen=True)
class DialogSpec:
    kind: str                  # builtin | exec | pipe
    program: str = ""


def parse_dialog(arg: str, relative: Any) -> DialogSpec:
    if arg.lower() == "builtin":
        return DialogSpec("builtin")
    if arg[:5].lower() == "exec:":
        path = relative(arg[5:])
        if not os.path.isfile(path):
            raise DirectiveError(f"SSLPassPhraseDialog: file '{path}' does not exist")
        return DialogSpec("exec", path)
    if arg.startswith("|"):
        prog = arg[1:].strip()
        exe = prog.split()[0] if prog else ""
        if not exe or not os.path.isfile(relative(exe)):
            raise DirectiveError(f"SSLPassPhraseDialog: file '{exe}' does not exist")
        return DialogSpec("pipe", prog)
    raise DirectiveError("SSLPassPhraseDialog: Invalid argument")


@dataclass(slots=True, frozen=True)
class SeedSpec:
    context: str               # startup | connect
    source: str                # builtin | file | exec | egd
    path: str = ""
    nbytes: int = 0


def parse_seed(ctx: str, src: str, nbytes: str | None, relative: Any) -> SeedSpec:
    c = ctx.lower()
    if c not in ("startup", "connect"):
        raise DirectiveError(f"SSLRandomSeed: invalid context: `{ctx}'")
    n = 0
    if nbytes is not None:
        try:
            n = int(nbytes)
        except ValueError:
            raise DirectiveError(f"SSLRandomSeed: invalid number of bytes specified: "
                                 f"`{nbytes}'") from None
    low = src.lower()
    if low == "builtin":
        return SeedSpec(c, "builtin", "", n)
    for kind in ("file", "exec", "egd"):
        if low.startswith(kind + ":"):
            path = relative(src[len(kind) + 1:])
            if kind != "egd" and not os.path.exists(path.split()[0]):
                raise DirectiveError(f"SSLRandomSeed: source path '{path}' does not exist")
            if kind == "exec" and c == "connect":
                raise DirectiveError("SSLRandomSeed: exec: can be used in the startup "
                                     "context only")
            return SeedSpec(c, kind, path, n)
    raise DirectiveError(f"SSLRandomSeed: invalid source: `{src}'")


# --- the records -------------------------------------------------------------------------
@dataclass(slots=True)
class SSLServerConfig:
    """Per server (SSLSrvConfigRec); the global ones live in the main server's record."""

    enabled: Any = UNSET                   # True | False | "optional"
    cert_files: Any = UNSET                # list[str]
    key_files: Any = UNSET                 # list[str]
    chain_file: Any = UNSET
    ca_file: Any = UNSET
    ca_path: Any = UNSET
    ca_dn_file: Any = UNSET
    ca_dn_path: Any = UNSET
    crl_file: Any = UNSET
    crl_path: Any = UNSET
    protocols: Any = UNSET                 # frozenset[str]
    cipher_suite: Any = UNSET              # TLSv1.2 and below
    tls13_suites: Any = UNSET
    honor_order: Any = UNSET
    verify_client: Any = UNSET
    verify_depth: Any = UNSET
    insecure_reneg: Any = UNSET
    strict_sni: Any = UNSET
    session_timeout: Any = UNSET
    session_tickets: Any = UNSET
    compression: Any = UNSET
    generate_self_signed: Any = UNSET
    srp_vfile: Any = UNSET                 # SSLSRPVerifierFile
    srp_seed: Any = UNSET                  # SSLSRPUnknownUserSeed
    missing: Any = UNSET                   # (message, file, line) of absent cert/key files
    # the client side, for mod_proxy (SSLProxy*)
    proxy_engine: Any = UNSET
    proxy_protocols: Any = UNSET
    proxy_cipher_suite: Any = UNSET
    proxy_tls13_suites: Any = UNSET
    proxy_verify: Any = UNSET
    proxy_verify_depth: Any = UNSET
    proxy_ca_file: Any = UNSET
    proxy_ca_path: Any = UNSET
    proxy_crl_file: Any = UNSET
    proxy_crl_path: Any = UNSET
    proxy_machine_file: Any = UNSET
    proxy_machine_path: Any = UNSET
    proxy_check_peer_cn: Any = UNSET
    proxy_check_peer_expire: Any = UNSET
    proxy_check_peer_name: Any = UNSET
    # global (main server only)
    pphrase: Any = UNSET                   # DialogSpec
    seeds: Any = unset_field("append")     # list[SeedSpec]
    session_cache: Any = UNSET             # CacheSpec
    mutex: Any = UNSET                     # MutexSpec
    crypto_device: Any = UNSET
    fips: Any = UNSET                      # SSLFIPS


def _merge_opts(base: Options, new: Options) -> Options:
    return merge_options(base, new)


@dataclass(slots=True)
class SSLDirConfig:
    """Per directory (SSLDirConfigRec)."""

    options: Any = unset_field(_merge_opts)
    require_ssl: Any = UNSET
    requires: Any = unset_field("append")  # list[Require]
    user_name: Any = UNSET
    cipher_suite: Any = UNSET
    verify_client: Any = UNSET
    verify_depth: Any = UNSET
    reneg_buffer_size: Any = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


def v(x: Any, default: Any) -> Any:
    return default if x is UNSET or x is None else x
