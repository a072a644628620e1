"""featherd-htdbm: manipulate DBM password databases, as Apache's htdbm.

The default type is SDBM (Apache's default; Debian's htdbm defaults to Berkeley DB,
which Python cannot read: give it -TSDBM for files featherd shares with it). Records are
``user`` -> ``hash[:comment]``.
"""

from __future__ import annotations

import sys

from featherd.support import passwords
from featherd.support.dbmfile import DBMError, open_dbm
from featherd.support.htpasswd import (
    ERR_BADUSER,
    ERR_FILEPERM,
    ERR_PWMISMATCH,
    ERR_SYNTAX,
    PW_ARG,
    PasswdCtx,
    err,
    fs,
    get_password,
    mkhash,
    parse_common_option,
)

USAGE = """htdbm -- program for manipulating DBM password databases.

Usage: htdbm   [-cimBdpstvx] [-C cost] [-TDBTYPE] database username
                -b[cmBdptsv] [-C cost] [-TDBTYPE] database username password
                -n[imBdpst]  [-C cost] username
                -nb[mBdpst]  [-C cost] username password
                -v[imBdps]   [-C cost] [-TDBTYPE] database username
                -vb[mBdps]   [-C cost] [-TDBTYPE] database username password
                -x                     [-TDBTYPE] database username
                -l                     [-TDBTYPE] database
Options:
   -c   Create a new database.
   -n   Don't update database; display results on stdout.
   -b   Use the password from the command line rather than prompting for it.
   -i   Read password from stdin without verification (for script usage).
   -m   Force MD5 hashing of the password (default).
   -B   Force BCRYPT hashing of the password (very secure).
   -C   Set the computing time used for the bcrypt algorithm
        (higher is more secure but slower, default: 5, valid: 4 to 31).
   -d   Force CRYPT hashing of the password (8 chars max, insecure).
   -s   Force SHA hashing of the password (insecure).
   -p   Do not hash the password (plaintext, insecure).
   -T   DBM Type (SDBM|GDBM|DB|default).
   -l   Display usernames from database on stdout.
   -v   Verify the username/password.
   -x   Remove the username record from database.
   -t   The last param is username comment.
The SHA algorithm does not use a salt and is less secure than the MD5 algorithm.
"""

MAKE, NOFILE, LIST, VERIFY, DELETE = range(5)


def run(argv: list[str]) -> int:
    if len(argv) < 3:
        err(USAGE)
        return ERR_SYNTAX
    ctx = PasswdCtx()
    create = False
    dbtype = "default"
    need_file = need_user = need_pwd = True
    need_cmnt = False
    cmd = MAKE
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        a = argv[i]
        j = 1
        while j < len(a):
            c = a[j]
            if c == "c":
                create = True
            elif c == "n":
                need_file = False
                cmd = NOFILE
            elif c == "l":
                need_pwd = need_user = False
                cmd = LIST
            elif c == "t":
                need_cmnt = True
            elif c == "T":
                dbtype = a[j + 1:]
                break
            elif c == "v":
                cmd = VERIFY
            elif c == "x":
                need_pwd = False
                cmd = DELETE
            elif c in "Cr":
                arg = a[j + 1:]
                if not arg and i + 1 < len(argv):
                    i += 1
                    arg = argv[i]
                ret = parse_common_option(ctx, c, arg)
                if ret:
                    err(f"Error: {ctx.errstr}\n")
                    return ret
                break
            elif c in "bimBdps":
                parse_common_option(ctx, c, None)
            else:
                err(USAGE)
                return ERR_SYNTAX
            j += 1
        i += 1
    rest = argv[i:]
    want = int(need_file) + int(need_user) + int(ctx.passwd_src == PW_ARG) + int(need_cmnt)
    if len(rest) != want:
        err(USAGE)
        return ERR_SYNTAX
    k = 0
    filename = ""
    if need_file:
        filename = rest[0]
        k = 1
    user = ""
    if need_user:
        user = fs(rest[k])
        if not 1 <= len(user) <= 64:
            err("Invalid username length\n")
            return ERR_BADUSER
        if ":" in user:
            err("Username contains invalid characters\n")
            return ERR_BADUSER
        k += 1
    if ctx.passwd_src == PW_ARG:
        ctx.passwd = fs(rest[k])
        k += 1
    comment = fs(rest[k]) if need_cmnt else None

    db = None
    if cmd != NOFILE:
        flag = "r" if cmd in (LIST, VERIFY) else ("c" if create else "w")
        try:
            db = open_dbm(dbtype, filename, flag)
        except DBMError as e:
            err(f"Error opening database {filename}\n")
            err(("DSO load failed" if e.errno == 38 else (e.strerror or str(e))) + "\n")
            return ERR_FILEPERM
    try:
        if need_pwd and cmd != VERIFY:
            ret = mkhash(ctx)
            if ret:
                err(f"Error: {ctx.errstr}\n")
                return ret
        elif cmd == VERIFY and ctx.passwd is None:
            ret = get_password(ctx)
            if ret:
                err(f"Error: {ctx.errstr}\n")
                return ret
        key = user.encode("latin-1")
        if cmd == VERIFY:
            assert db is not None
            v = db.fetch(key)
            if v is None:
                err(f"The user '{user}' could not be found in database\n")
                return ERR_BADUSER
            stored = v.decode("latin-1").split(":", 1)[0]
            if not passwords.validate(ctx.passwd or "", stored):
                err(f"Password mismatch for user '{user}'\n")
                return ERR_PWMISMATCH
            err(f"Password validated for user '{user}'\n")
            return 0
        if cmd == LIST:
            assert db is not None
            err(f"Dumping records from database -- {filename}\n")
            err("    Username                         Comment\n")
            n = 0
            for kk in db.keys():
                v = db.fetch(kk) or b""
                rec = v.decode("latin-1")
                line = f"    {kk.decode('latin-1'):<32}"
                if ":" in rec:
                    line += " " + rec.split(":", 1)[1]
                err(line + "\n")
                n += 1
            err(f"Total #records : {n}\n")
            return 0
        value = ctx.out if comment is None else f"{ctx.out}:{comment}"
        if cmd == NOFILE:
            err(f"{user}:{value}\n")
            return 0
        assert db is not None
        changed = False
        if cmd == DELETE:
            if not db.delete(key):
                err(f"Cannot find user '{user}' in database\n")
                return ERR_BADUSER
            changed = True
        else:
            changed = db.fetch(key) is not None
            db.store(key, value.encode("latin-1"))
        if cmd == MAKE and create:
            print(f"Database {filename} created.")
        elif changed:
            print(f"Database {filename} modified.")
        else:
            print(f"Database {filename} updated.")
        sys.stdout.flush()
        return 0
    finally:
        if db is not None:
            db.close()


def main() -> None:
    try:
        code = run(sys.argv)
    except KeyboardInterrupt:
        err("\nInterrupted.\n")
        code = 4
    sys.exit(code)


if __name__ == "__main__":
    main()
