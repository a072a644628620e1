"""mod_auth_basic with mod_authn_file/dbm/anon/alias and the 2.2 authorisation modules
(authz_user, authz_groupfile, authz_dbm, authz_owner, authz_default, authn_default),
Satisfy combined with host access: statuses, challenge headers, error-log lines, %u."""

from __future__ import annotations

import getpass
import os

import requests

from featherd.support import passwords as P
from featherd.support.sdbm import SDBM

D = "@ROOT@/htdocs"


def pwfile() -> str:
    return "\n".join([
        "# users in every format Apache reads",
        "alice:" + P.bcrypt_encode("alicepw", 4),
        "bob:" + P.apr_md5_encode("bobpw"),
        "carol:" + P.sha1_encode("carolpw"),
        "dave:" + (P.des_crypt("davepw", "ab") or ""),
        "erin:" + (P.sha_crypt("erinpw", "$6$saltsalt") or ""),
        "plain:plainpw",
        "",
    ])


FILES = {f"htdocs/{d}/f.txt": d for d in (
    "valid", "users", "group", "group2", "nogroupfile", "unknownreq", "default_off", "owner",
    "anon", "alias", "dbm", "any", "all", "anyfail", "limit", "ht", "badtype", "noname",
    "nofile", "notauth", "basicoff", "digestonly")}


def conf(root: str) -> str:
    return f"""
    <AuthnProviderAlias file second>
      AuthUserFile {root}/pw2
    </AuthnProviderAlias>
    <Directory {D}>
      AuthType Basic
      AuthName "Private Area"
      AuthUserFile {root}/pw
      AuthGroupFile {root}/groups
    </Directory>
    <Directory {D}/valid>
      Require valid-user
    </Directory>
    <Directory {D}/users>
      Require user bob "carol"
    </Directory>
    <Directory {D}/group>
      Require group Admins
    </Directory>
    <Directory {D}/group2>
      AuthzGroupFileAuthoritative Off
      Require group admins
      Require user dave
    </Directory>
    <Directory {D}/nogroupfile>
      AuthGroupFile {root}/missing
      Require group admins
    </Directory>
    <Directory {D}/unknownreq>
      Require frobnicate
    </Directory>
    <Directory {D}/default_off>
      AuthzDefaultAuthoritative Off
      Require frobnicate
    </Directory>
    <Directory {D}/owner>
      Require file-owner
    </Directory>
    <Directory {D}/anon>
      AuthBasicProvider file anon
      Anonymous guest "Anonymous" *foo
      Anonymous_MustGiveEmail On
      Anonymous_VerifyEmail On
      Anonymous_NoUserId Off
      Require valid-user
    </Directory>
    <Directory {D}/alias>
      AuthBasicProvider file second
      Require valid-user
    </Directory>
    <Directory {D}/dbm>
      AuthBasicProvider dbm
      AuthDBMUserFile {root}/users
      AuthDBMGroupFile {root}/users
      AuthzGroupFileAuthoritative Off
      Require group staff
    </Directory>
    <Directory {D}/any>
      Order deny,allow
      Deny from all
      Allow from 127.0.0.1
      Satisfy Any
      Require valid-user
    </Directory>
    <Directory {D}/all>
      Order deny,allow
      Deny from all
      Allow from 127.0.0.1
      Satisfy All
      Require valid-user
    </Directory>
    <Directory {D}/anyfail>
      Order deny,allow
      Deny from all
      Satisfy Any
      Require valid-user
    </Directory>
    <Directory {D}/limit>
      <Limit POST PUT>
        Require valid-user
      </Limit>
    </Directory>
    <Directory {D}/ht>
      AllowOverride AuthConfig
    </Directory>
    <Directory {D}/badtype>
      AuthType Frob
      Require valid-user
    </Directory>
    <Directory {D}/basicoff>
      AuthBasicProvider anon
      AuthBasicAuthoritative Off
      AuthDefaultAuthoritative Off
      Anonymous guest
      Require valid-user
    </Directory>
    <Directory {D}/noname>
      AuthName none
      Require valid-user
    </Directory>
    <Directory {D}/nofile>
      AuthUserFile {root}/missing
      Require valid-user
    </Directory>
    """


def test_basic_auth(make_server, tmp_path) -> None:
    root = str(tmp_path)
    files = dict(FILES)
    files["pw"] = pwfile()
    files["pw2"] = "zed:" + P.apr_md5_encode("zedpw") + "\n"
    files["groups"] = "admins: alice bob\nstaff :dave\n"
    files["htdocs/ht/.htaccess"] = ("AuthType Basic\nAuthName ht\nAuthUserFile " + root +
                                    "/pw2\nRequire user zed\n")
    srv = make_server(conf(root), files=files)
    with SDBM(str(tmp_path / "users"), "c") as db:
        db[b"dbu"] = (P.apr_md5_encode("dbupw") + ":staff,other:comment").encode()
        db[b"dbv"] = (P.sha1_encode("dbvpw") + ":other").encode()

    def get(path: str, auth: tuple[str, str] | None = None, method: str = "GET") -> requests.Response:
        return requests.request(method, srv.url(path + "f.txt"), auth=auth, timeout=20)

    r = get("/valid/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Private Area"'
    assert "401 Authorization Required" in r.text
    for user in ("alice", "bob", "carol", "dave", "erin"):
        assert get("/valid/", (user, user + "pw")).status_code == 200, user
        assert get("/valid/", (user, "wrong")).status_code == 401, user
    assert get("/valid/", ("plain", "plainpw")).status_code == 401   # never plain text on Unix
    assert get("/valid/", ("nobody", "x")).status_code == 401
    assert get("/users/", ("bob", "bobpw")).status_code == 200
    assert get("/users/", ("carol", "carolpw")).status_code == 200
    assert get("/users/", ("alice", "alicepw")).status_code == 401
    assert get("/group/", ("alice", "alicepw")).status_code == 200
    assert get("/group/", ("carol", "carolpw")).status_code == 401
    # authoritative groupfile off: "Require user dave" still gets its say
    assert get("/group2/", ("dave", "davepw")).status_code == 200
    assert get("/group2/", ("bob", "bobpw")).status_code == 200
    assert get("/group2/", ("carol", "carolpw")).status_code == 401
    assert get("/nogroupfile/", ("alice", "alicepw")).status_code == 500
    assert get("/unknownreq/", ("alice", "alicepw")).status_code == 401
    # no module left to decide: the core's "couldn't check access" 500
    assert get("/default_off/", ("alice", "alicepw")).status_code == 500
    me = getpass.getuser()
    assert get("/owner/", ("alice", "alicepw")).status_code == 401
    # anonymous: listed IDs without case, an e-mail-like password
    assert get("/anon/", ("ANONYMOUS", "me@example.org")).status_code == 200
    assert get("/anon/", ("guest", "me@example.org")).status_code == 200
    assert get("/anon/", ("guest", "nomail")).status_code == 401
    assert get("/anon/", ("alice", "alicepw")).status_code == 200
    assert get("/anon/", ("stranger", "me@example.org")).status_code == 401
    assert get("/alias/", ("zed", "zedpw")).status_code == 200
    assert get("/alias/", ("bob", "bobpw")).status_code == 200
    assert get("/alias/", ("zed", "bad")).status_code == 401
    assert get("/dbm/", ("dbu", "dbupw")).status_code == 200
    assert get("/dbm/", ("dbv", "dbvpw")).status_code == 401
    assert get("/dbm/", ("dbu", "bad")).status_code == 401
    # Satisfy Any: the host is enough; All: both; Any with the host refused: the user
    assert get("/any/").status_code == 200
    assert get("/all/").status_code == 401
    assert get("/all/", ("bob", "bobpw")).status_code == 200
    assert get("/anyfail/").status_code == 401
    assert get("/anyfail/", ("bob", "bobpw")).status_code == 200
    # Require inside <Limit POST PUT>
    assert get("/limit/").status_code == 200
    assert get("/limit/", method="POST").status_code == 401
    assert get("/limit/", ("bob", "bobpw"), method="POST").status_code in (200, 405)
    assert get("/ht/", ("zed", "zedpw")).status_code == 200
    assert get("/ht/", ("bob", "bobpw")).status_code == 401
    assert get("/ht/").headers["WWW-Authenticate"] == 'Basic realm="ht"'
    assert get("/badtype/").status_code == 401
    assert get("/basicoff/", ("guest", "x")).status_code == 200
    assert get("/nofile/", ("bob", "bobpw")).status_code == 500
    # a wrong scheme
    r = requests.get(srv.url("/valid/f.txt"), headers={"Authorization": "Bearer xyz"}, timeout=10)
    assert r.status_code == 401

    log = srv.error_log()
    assert 'user alice: authentication failure for "/valid/f.txt": Password Mismatch' in log
    assert "user nobody not found: /valid/f.txt" in log
    assert ("access to /users/f.txt failed, reason: user 'alice' does not meet 'require'ments "
            "for user/valid-user to be allowed access") in log
    assert ("Authorization of user carol to access /group/f.txt failed, reason: user doesn't "
            "appear in group file") in log
    assert f"Could not open group file: {root}/missing" in log
    assert ("access to /unknownreq/f.txt failed, reason: require directives present and no "
            "Authoritative handler.") in log
    assert (f"Authorization of user alice to access /owner/f.txt failed, reason: file owner "
            f"{me} does not match.") in log
    assert ("configuration error:  couldn't check access.  No groups file?: "
            "/default_off/f.txt") in log
    assert "Anonymous: Passwd <me@example.org> Accepted" in log
    assert "client used wrong authentication scheme: /valid/f.txt" in log
    assert ("access to /badtype/f.txt failed, reason: verification of user id '<null>' not "
            "configured") in log
    assert f"(2)No such file or directory: Could not open password file: {root}/missing" in log
    import time

    deadline = time.monotonic() + 5
    acc = srv.access_log()
    while " - nobody [" not in acc and time.monotonic() < deadline:
        time.sleep(0.1)
        acc = srv.access_log()
    assert '"GET /valid/f.txt HTTP/1.1" 401' in acc
    assert ' - bob [' in acc and ' - nobody [' in acc


def test_file_owner_and_group(make_server, tmp_path) -> None:
    import grp

    root = str(tmp_path)
    me = getpass.getuser()
    mygroup = grp.getgrgid(os.getgid()).gr_name
    files = {"pw": f"{me}:" + P.sha1_encode("mepw") + "\nother:" + P.sha1_encode("o") + "\n",
             "groups": f"{mygroup}: other\n",
             "htdocs/o/f.txt": "o", "htdocs/g/f.txt": "g"}
    srv = make_server(f"""
    <Directory {D}>
      AuthType Basic
      AuthName owner
      AuthUserFile {root}/pw
      AuthGroupFile {root}/groups
    </Directory>
    <Directory {D}/o>
      Require file-owner
    </Directory>
    <Directory {D}/g>
      Require file-group
    </Directory>
    """, files=files)
    assert requests.get(srv.url("/o/f.txt"), auth=(me, "mepw"), timeout=10).status_code == 200
    assert requests.get(srv.url("/o/f.txt"), auth=("other", "o"), timeout=10).status_code == 401
    assert requests.get(srv.url("/g/f.txt"), auth=("other", "o"), timeout=10).status_code == 200
    assert requests.get(srv.url("/g/f.txt"), auth=(me, "mepw"), timeout=10).status_code == 401


def test_config_errors(tmp_path) -> None:
    from featherd.core.config import load_config
    from featherd.errors import ConfigError
    from featherd.modules import builtin_modules

    cases = [
        ("AuthBasicProvider nope", "Unknown Authn provider: nope"),
        ("AuthDigestProvider anon",
         "The 'anon' Authn provider doesn't support Digest Authentication"),
        ("AuthUserFile x y", "Invalid auth file type: y"),
        ("AuthGroupFile x y", "Invalid auth file type: y"),
        ("Anonymous \"\"", "Anonymous "),
        ("AuthDigestQop auth-int", "AuthDigestQop auth-int is not implemented"),
        ("AuthDigestQop foo", "Unrecognized qop: foo"),
        ("AuthDigestNonceLifetime foo", "Invalid time in AuthDigestNonceLifetime: foo"),
        ("AuthDigestAlgorithm SHA", "Invalid algorithm in AuthDigestAlgorithm: SHA"),
        ("AuthDigestNonceFormat x", "AuthDigestNonceFormat is not implemented (yet)"),
    ]
    for body, msg in cases:
        text = f"<Directory {tmp_path}>\n{body}\n</Directory>\n"
        try:
            load_config(None, builtin_modules(), server_root=str(tmp_path), text=text)
        except ConfigError as e:
            assert msg in str(e), (body, str(e))
        else:
            raise AssertionError(f"accepted: {body}")
    for body, msg in [("AuthDigestShmemSize 10", "size in AuthDigestShmemSize too small: 10 < 136"),
                      ("AuthDigestShmemSize 10x", "Invalid size in AuthDigestShmemSize: 10x"),
                      ("<AuthnProviderAlias file file>\n</AuthnProviderAlias>",
                       "The alias provider name must be different from the base provider name."),
                      ("<AuthnProviderAlias nope x>\n</AuthnProviderAlias>",
                       "Unknown Authn provider: nope")]:
        try:
            load_config(None, builtin_modules(), server_root=str(tmp_path), text=body + "\n")
        except ConfigError as e:
            assert msg in str(e), (body, str(e))
        else:
            raise AssertionError(f"accepted: {body}")
    tree = load_config(None, builtin_modules(), server_root=str(tmp_path),
                       text="AuthDigestShmemSize 1M\n<Directory /x>\nAuthDigestQop none\n"
                            "AuthDigestDomain /a /b\n</Directory>\n")
    assert tree is not None
