"""mod_auth_digest (2.2 manual; RFC 2617): challenges, MD5 and MD5-sess, qop auth and
RFC 2069 (qop none), nonce lifetime and one-time nonces, nc checking, AuthDigestDomain,
the error-log lines."""

from __future__ import annotations

import hashlib
import re

import requests
from requests.auth import HTTPDigestAuth

D = "@ROOT@/htdocs"
REALM = "Digest Realm"


def md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def ha1(user: str, pw: str) -> str:
    return md5(f"{user}:{REALM}:{pw}")


def challenge(h: str) -> dict[str, str]:
    assert h.startswith("Digest ")
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,]+)', h[7:])}


def authz(user: str, pw: str, ch: dict[str, str], uri: str, method: str = "GET",
          nc: int = 1, cnonce: str = "0a4f113b", qop: str | None = "auth",
          alg: str | None = None, realm: str = REALM) -> str:
    h1 = md5(f"{user}:{realm}:{pw}")
    if alg == "MD5-sess":
        h1 = md5(f"{h1}:{ch['nonce']}:{cnonce}")
    h2 = md5(f"{method}:{uri}")
    if qop:
        resp = md5(f"{h1}:{ch['nonce']}:{nc:08x}:{cnonce}:{qop}:{h2}")
        extra = f', qop={qop}, nc={nc:08x}, cnonce="{cnonce}"'
    else:
        resp = md5(f"{h1}:{ch['nonce']}:{h2}")
        extra = ""
    s = (f'Digest username="{user}", realm="{realm}", nonce="{ch["nonce"]}", uri="{uri}", '
         f'response="{resp}"{extra}')
    if "opaque" in ch:
        s += f', opaque="{ch["opaque"]}"'
    if alg:
        s += f", algorithm={alg}"
    return s


CONF = f"""
<Directory {D}>
  AuthType Digest
  AuthName "{REALM}"
  AuthUserFile @ROOT@/dpw
  Require valid-user
</Directory>
<Directory {D}/dom>
  AuthDigestDomain /dom/ http://other.example/x
</Directory>
<Directory {D}/sess>
  AuthDigestAlgorithm MD5-sess
</Directory>
<Directory {D}/nc>
  AuthDigestNcCheck On
</Directory>
<Directory {D}/otn>
  AuthDigestNonceLifetime 0
</Directory>
<Directory {D}/short>
  AuthDigestNonceLifetime 1
</Directory>
<Directory {D}/none>
  AuthDigestQop none
</Directory>
<Directory {D}/users>
  Require user bob
</Directory>
"""


def files() -> dict[str, str]:
    out = {"dpw": f"alice:{REALM}:{ha1('alice', 'pw')}\nbob:{REALM}:{ha1('bob', 'bpw')}\n"
                  f"alice:Other:{md5('alice:Other:x')}\n"}
    for d in ("", "dom", "sess", "nc", "otn", "short", "none", "users"):
        out[f"htdocs/{d}/f.txt".replace("//", "/")] = d or "root"
    return out


def test_digest(make_server) -> None:
    srv = make_server(CONF, files=files())
    u = srv.url

    r = requests.get(u("/f.txt"), timeout=10)
    assert r.status_code == 401
    ch = challenge(r.headers["WWW-Authenticate"])
    assert r.headers["WWW-Authenticate"].startswith(f'Digest realm="{REALM}", nonce="')
    assert ch["algorithm"] == "MD5" and ch["qop"] == "auth" and "opaque" not in ch
    assert re.fullmatch(r"[A-Za-z0-9+/]{11}=[0-9a-f]{40}", ch["nonce"])
    assert "domain" not in ch

    ok = requests.get(u("/f.txt"), headers={"Authorization": authz("alice", "pw", ch, "/f.txt")},
                      timeout=10)
    assert ok.status_code == 200 and ok.text == "root"
    info = ok.headers["Authentication-Info"]
    want = md5(f"{ha1('alice', 'pw')}:{ch['nonce']}:00000001:0a4f113b:auth:{md5(':/f.txt')}")
    assert info == f'rspauth="{want}", cnonce="0a4f113b", nc=00000001, qop=auth'

    bad = requests.get(u("/f.txt"), headers={"Authorization": authz("alice", "no", ch, "/f.txt")},
                       timeout=10)
    assert bad.status_code == 401
    assert "stale" not in bad.headers["WWW-Authenticate"]
    nouser = requests.get(u("/f.txt"), headers={"Authorization": authz("zed", "x", ch, "/f.txt")},
                          timeout=10)
    assert nouser.status_code == 401
    wrongrealm = authz("alice", "x", ch, "/f.txt", realm="Other")
    assert requests.get(u("/f.txt"), headers={"Authorization": wrongrealm},
                        timeout=10).status_code == 401
    mismatch = requests.get(u("/f.txt"), headers={"Authorization": authz("alice", "pw", ch,
                                                                         "/other.txt")},
                            timeout=10)
    assert mismatch.status_code == 400
    tampered = dict(ch, nonce=ch["nonce"][:-1] + ("0" if ch["nonce"][-1] != "0" else "1"))
    st = requests.get(u("/f.txt"), headers={"Authorization": authz("alice", "pw", tampered,
                                                                   "/f.txt")}, timeout=10)
    assert st.status_code == 401 and "stale=true" in st.headers["WWW-Authenticate"]
    missing = requests.get(u("/f.txt"), headers={"Authorization": 'Digest username="alice"'},
                           timeout=10)
    assert missing.status_code == 401
    basic = requests.get(u("/f.txt"), auth=("alice", "pw"), timeout=10)
    assert basic.status_code == 401
    # RFC 2069 (no qop) is still accepted where qop auth is offered
    assert requests.get(u("/f.txt"), headers={"Authorization": authz("alice", "pw", ch, "/f.txt",
                                                                     qop=None)},
                        timeout=10).status_code == 200
    # Require user after Digest
    assert requests.get(u("/users/f.txt"), auth=HTTPDigestAuth("bob", "bpw"),
                        timeout=10).status_code == 200
    r = requests.get(u("/users/f.txt"), auth=HTTPDigestAuth("alice", "pw"), timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Digest ")

    # AuthDigestDomain
    d = challenge(requests.get(u("/dom/f.txt"), timeout=10).headers["WWW-Authenticate"])
    assert d["domain"] == "/dom/ http://other.example/x"

    # MD5-sess: an opaque client record, HA1 = MD5(MD5(A1):nonce:cnonce)
    s = challenge(requests.get(u("/sess/f.txt"), timeout=10).headers["WWW-Authenticate"])
    assert s["algorithm"] == "MD5-sess" and s["opaque"]
    r = requests.get(u("/sess/f.txt"), headers={"Authorization": authz(
        "alice", "pw", s, "/sess/f.txt", alg="MD5-sess")}, timeout=10)
    assert r.status_code == 200
    assert requests.get(u("/sess/f.txt"), auth=HTTPDigestAuth("alice", "pw"),
                        timeout=10).status_code == 200

    # nonce-count checking: 1, 2, 3 ...; a replayed count is refused
    n = challenge(requests.get(u("/nc/f.txt"), timeout=10).headers["WWW-Authenticate"])
    assert n["opaque"]
    for nc in (1, 2, 3):
        r = requests.get(u("/nc/f.txt"), headers={"Authorization": authz(
            "alice", "pw", n, "/nc/f.txt", nc=nc)}, timeout=10)
        assert r.status_code == 200, nc
    r = requests.get(u("/nc/f.txt"), headers={"Authorization": authz(
        "alice", "pw", n, "/nc/f.txt", nc=3)}, timeout=10)
    assert r.status_code == 401

    # one-time nonces: the second use of a nonce is stale; nextnonce is offered
    o = challenge(requests.get(u("/otn/f.txt"), timeout=10).headers["WWW-Authenticate"])
    h = {"Authorization": authz("alice", "pw", o, "/otn/f.txt")}
    r = requests.get(u("/otn/f.txt"), headers=h, timeout=10)
    assert r.status_code == 200 and "nextnonce=" in r.headers["Authentication-Info"]
    r2 = requests.get(u("/otn/f.txt"), headers=h, timeout=10)
    assert r2.status_code == 401 and "stale=true" in r2.headers["WWW-Authenticate"]
    # the nonce of the new challenge is the one now expected
    o2 = challenge(r2.headers["WWW-Authenticate"])
    r3 = requests.get(u("/otn/f.txt"), headers={"Authorization": authz(
        "alice", "pw", o2, "/otn/f.txt", nc=1)}, timeout=10)
    assert r3.status_code == 200
    nxt = re.search(r'nextnonce="([^"]+)"', r3.headers["Authentication-Info"]).group(1)
    r4 = requests.get(u("/otn/f.txt"), headers={"Authorization": authz(
        "alice", "pw", dict(o2, nonce=nxt), "/otn/f.txt", nc=2)}, timeout=10)
    assert r4.status_code == 200

    # qop none: no qop offered, RFC 2069 responses only
    c = requests.get(u("/none/f.txt"), timeout=10).headers["WWW-Authenticate"]
    assert "qop" not in c
    nn = challenge(c)
    assert requests.get(u("/none/f.txt"), headers={"Authorization": authz(
        "alice", "pw", nn, "/none/f.txt", qop=None)}, timeout=10).status_code == 200
    assert requests.get(u("/none/f.txt"), headers={"Authorization": authz(
        "alice", "pw", nn, "/none/f.txt")}, timeout=10).status_code == 401

    log = srv.error_log()
    assert "Digest: user alice: password mismatch: /f.txt" in log
    assert f"Digest: user `zed' in realm `{REALM}' not found: /f.txt" in log
    assert f"Digest: realm mismatch - got `Other' but expected `{REALM}'" in log
    assert "Digest: uri mismatch - </other.txt> does not match request-uri </f.txt>" in log
    assert "Digest: invalid nonce " in log and " received - hash is not " in log
    assert ("Digest: missing user, realm, nonce, uri, digest, cnonce, or nonce_count in "
            "authorization header: /f.txt") in log
    assert "Digest: client used wrong authentication scheme `Basic': /f.txt" in log
    assert "Digest: Warning, possible replay attack: nonce-count check failed: 3 != 4" in log
    assert "Digest: user alice: one-time-nonce mismatch - sending new nonce" in log
    assert "Digest: invalid qop `auth' received: /none/f.txt" in log


def test_digest_nonce_lifetime(make_server) -> None:
    import time

    srv = make_server(CONF, files=files())
    ch = challenge(requests.get(srv.url("/short/f.txt"), timeout=10).headers["WWW-Authenticate"])
    h = {"Authorization": authz("alice", "pw", ch, "/short/f.txt")}
    r = requests.get(srv.url("/short/f.txt"), headers=h, timeout=10)
    assert r.status_code == 200
    # within 30 s of expiry Apache offers the next nonce
    assert "nextnonce=" in r.headers["Authentication-Info"]
    time.sleep(1.2)
    r = requests.get(srv.url("/short/f.txt"), headers=h, timeout=10)
    assert r.status_code == 401 and "stale=true" in r.headers["WWW-Authenticate"]
    assert "nonce expired" in srv.error_log()
