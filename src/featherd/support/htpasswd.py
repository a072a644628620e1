"""featherd-htpasswd: manage user files for basic authentication, as Apache's htpasswd
(flags, messages and exit codes of htpasswd.c and passwd_common.c).

Messages go to standard error, the -n record to standard output. Exit codes: 1 file
permission, 2 syntax, 3 password mismatch, 5 too long, 6 bad user, 7 invalid file.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass

from featherd.support import passwords
from featherd.util.getopt import Getopt, GetoptError

ERR_FILEPERM = 1
ERR_SYNTAX = 2
ERR_PWMISMATCH = 3
ERR_INTERRUPTED = 4
ERR_OVERFLOW = 5
ERR_BADUSER = 6
ERR_INVALID = 7
ERR_RANDOM = 8
ERR_GENERAL = 9
MAX_STRING_LEN = 256

ALG_PLAIN, ALG_CRYPT, ALG_APMD5, ALG_APSHA, ALG_BCRYPT, ALG_SHA256, ALG_SHA512 = range(7)
PW_PROMPT, PW_ARG, PW_STDIN, PW_PROMPT_VERIFY = range(4)

USAGE = """Usage:
\thtpasswd [-cimB25dpsDv] [-C cost] [-r rounds] passwordfile username
\thtpasswd -b[cmB25dpsDv] [-C cost] [-r rounds] passwordfile username password

\thtpasswd -n[imB25dps] [-C cost] [-r rounds] username
\thtpasswd -nb[mB25dps] [-C cost] [-r rounds] username password
 -c  Create a new file.
 -n  Don't update file; display results on stdout.
 -b  Use the password from the command line rather than prompting for it.
 -i  Read password from stdin without verification (for script usage).
 -m  Force MD5 hashing of the password (default).
 -2  Force SHA-256 hashing of the password (secure).
 -5  Force SHA-512 hashing of the password (secure).
 -B  Force bcrypt hashing of the password (very secure).
 -C  Set the computing time used for the bcrypt algorithm
     (higher is more secure but slower, default: 5, valid: 4 to 17).
 -r  Set the number of rounds used for the SHA-256, SHA-512 algorithms
     (higher is more secure but slower, default: 5000).
 -d  Force CRYPT hashing of the password (8 chars max, insecure).
 -s  Force SHA-1 hashing of the password (insecure).
 -p  Do not hash the password (plaintext, insecure).
 -D  Delete the specified user.
 -v  Verify password for the specified user.
On other systems than Windows and NetWare the '-p' flag will probably not work.
The SHA-1 algorithm does not use a salt and is less secure than the MD5 algorithm.
"""


def err(msg: str) -> None:
    sys.stderr.write(msg)
    sys.stderr.flush()


@dataclass
class PasswdCtx:
    alg: int = ALG_APMD5
    passwd_src: int = PW_PROMPT
    passwd: str | None = None
    cost: int = 0
    errstr: str = ""
    out: str = ""


def fs(s: str) -> str:
    """Command-line text back to its bytes, as latin-1 characters (hashes take bytes)."""
    return os.fsencode(s).decode("latin-1")


def password_get(prompt: str) -> str:
    """apr_password_get: the terminal when there is one, else standard input."""
    try:
        tty = open("/dev/tty", "r+")   # noqa: SIM115
    except OSError:
        tty = None
    if tty is not None:
        import getpass

        tty.close()
        return fs(getpass.getpass(prompt))
    err(prompt)
    line = sys.stdin.buffer.readline()
    if line.endswith(b"\n"):
        line = line[:-1]
    return line.decode("latin-1")


def parse_common_option(ctx: PasswdCtx, opt: str, arg: str | None) -> int:
    if opt == "b":
        ctx.passwd_src = PW_ARG
    elif opt == "i":
        ctx.passwd_src = PW_STDIN
    elif opt == "m":
        ctx.alg = ALG_APMD5
    elif opt == "2":
        ctx.alg = ALG_SHA256
    elif opt == "5":
        ctx.alg = ALG_SHA512
    elif opt == "s":
        ctx.alg = ALG_APSHA
    elif opt == "p":
        ctx.alg = ALG_PLAIN
        err("Warning: storing passwords as plain text might just not work on this platform.\n")
    elif opt == "d":
        ctx.alg = ALG_CRYPT
    elif opt == "B":
        ctx.alg = ALG_BCRYPT
    elif opt in ("C", "r"):
        try:
            n = int(arg or "", 10)
        except ValueError:
            n = 0
        if n <= 0 or not (arg or "").lstrip("+").isdigit():
            ctx.errstr = "argument to -C/-r must be a positive integer"
            return ERR_SYNTAX
        ctx.cost = n
    else:
        err(f"parse_common_options called with invalid option: '{opt}'\n")
        return ERR_SYNTAX
    return 0


def get_password(ctx: PasswdCtx) -> int:
    if ctx.passwd_src == PW_STDIN:
        data = sys.stdin.buffer.read(MAX_STRING_LEN + 1)
        if len(data) >= MAX_STRING_LEN:
            ctx.errstr = f"password too long (>{MAX_STRING_LEN - 1})"
            return ERR_OVERFLOW
        if data.endswith(b"\n"):
            data = data[:-1]
            if data.endswith(b"\r"):
                data = data[:-1]
        ctx.passwd = data.decode("latin-1")
        return 0
    if ctx.passwd_src == PW_PROMPT_VERIFY:
        ctx.passwd = password_get("Enter password: ")
        return 0
    pw = password_get("New password: ")
    again = password_get("Re-type new password: ")
    if pw != again:
        ctx.errstr = "password verification error"
        return ERR_PWMISMATCH
    ctx.passwd = pw
    return 0


def mkhash(ctx: PasswdCtx) -> int:
    if ctx.cost and ctx.alg not in (ALG_BCRYPT, ALG_SHA256, ALG_SHA512):
        err("Warning: Ignoring -C/-r argument for this algorithm.\n")
    if ctx.passwd is None:
        ret = get_password(ctx)
        if ret:
            return ret
    pw = ctx.passwd or ""
    if ctx.alg == ALG_APSHA:
        ctx.out = passwords.sha1_encode(pw)
    elif ctx.alg == ALG_APMD5:
        ctx.out = passwords.apr_md5_encode(pw)
    elif ctx.alg == ALG_PLAIN:
        ctx.out = pw
    elif ctx.alg == ALG_CRYPT:
        salt = passwords.gen_salt(8)
        ctx.out = passwords.des_crypt(pw, salt) or ""
        if len(pw) > 8 and passwords.des_crypt(pw[:8], salt) == ctx.out:
            err("Warning: Password truncated to 8 characters by CRYPT algorithm.\n")
    elif ctx.alg in (ALG_SHA256, ALG_SHA512):
        m = "5" if ctx.alg == ALG_SHA256 else "6"
        salt = passwords.gen_salt(16)
        setting = f"${m}$rounds={ctx.cost}${salt}" if ctx.cost else f"${m}${salt}"
        out = passwords.sha_crypt(pw, setting)
        if out is None:
            ctx.errstr = "crypt() failed: Invalid argument"
            return ERR_PWMISMATCH
        ctx.out = out
    elif ctx.alg == ALG_BCRYPT:
        cost = ctx.cost or 5
        if not 4 <= cost <= 17:
            ctx.errstr = "Unable to encode with bcrypt: Invalid argument"
            return ERR_PWMISMATCH
        ctx.out = passwords.bcrypt_encode(pw, cost)
    return 0


def verify(ctx: PasswdCtx, stored: str) -> int:
    if ctx.passwd is None:
        ret = get_password(ctx)
        if ret:
            return ret
    if passwords.validate(ctx.passwd or "", stored):
        return 0
    ctx.errstr = "password verification failed"
    return ERR_PWMISMATCH


APHTP_NEWFILE, APHTP_NOFILE, APHTP_DELUSER, APHTP_VERIFY = 1, 2, 4, 8


def run(argv: list[str]) -> int:
    prog = argv[0]
    ctx = PasswdCtx()
    mask = 0
    args_left = 2
    g = Getopt(argv, "Cr", "cnmspdBbDiv25", start=1)
    try:
        opts = list(g)
    except GetoptError as e:
        err(f"{argv[0]}: {e}\n")
        err(USAGE)
        return ERR_SYNTAX
    ind = g.ind
    for o, a in opts:
        if o == "c":
            mask |= APHTP_NEWFILE
        elif o == "n":
            args_left -= 1
            mask |= APHTP_NOFILE
        elif o == "D":
            mask |= APHTP_DELUSER
        elif o == "v":
            mask |= APHTP_VERIFY
        else:
            ret = parse_common_option(ctx, o, a)
            if ret:
                err(f"{prog}: {ctx.errstr}\n")
                return ret
    if ctx.passwd_src == PW_ARG:
        args_left += 1
    if mask & (mask - 1):
        err(f"{prog}: only one of -c -n -v -D may be specified\n")
        return ERR_SYNTAX
    if mask & APHTP_VERIFY and ctx.passwd_src == PW_PROMPT:
        ctx.passwd_src = PW_PROMPT_VERIFY
    rest = argv[ind:]
    if len(rest) != args_left:
        err(USAGE)
        return ERR_SYNTAX
    i = 0
    pwfilename = ""
    if not mask & APHTP_NOFILE:
        pwfilename = rest[0]
        i = 1
        if len(pwfilename) > 4095:
            err(f"{prog}: filename too long\n")
            return ERR_OVERFLOW
    user = fs(rest[i])
    if len(user) > MAX_STRING_LEN - 1:
        err(f"{prog}: username too long (> {MAX_STRING_LEN - 1})\n")
        return ERR_OVERFLOW
    if ":" in user:
        err(f"{prog}: username contains illegal character ':'\n")
        return ERR_BADUSER
    if ctx.passwd_src == PW_ARG:
        pw = fs(rest[i + 1])
        if len(pw) > MAX_STRING_LEN - 1:
            err(f"{prog}: password too long (> {MAX_STRING_LEN})\n")
            return ERR_OVERFLOW
        ctx.passwd = pw

    existing = False
    if not mask & APHTP_NOFILE:
        existing = os.path.exists(pwfilename)
        if existing:
            if not os.access(pwfilename, os.R_OK | os.W_OK):
                err(f"{prog}: cannot open file {pwfilename} for read/write access\n")
                return ERR_FILEPERM
        else:
            if not mask & APHTP_NEWFILE:
                err(f"{prog}: cannot modify file {pwfilename}; use '-c' to create it\n")
                return ERR_FILEPERM
            d = os.path.dirname(os.path.abspath(pwfilename))
            if not os.access(d, os.W_OK):
                err(f"{prog}: cannot create file {pwfilename}\n")
                return ERR_FILEPERM
    record = ""
    if not mask & (APHTP_DELUSER | APHTP_VERIFY):
        ret = mkhash(ctx)
        if ret:
            err(f"{prog}: {ctx.errstr}\n")
            return ret
        record = f"{user}:{ctx.out}\n"
        if len(record) >= MAX_STRING_LEN:
            err(f"{prog}: resultant record too long\n")
            return ERR_OVERFLOW
        if mask & APHTP_NOFILE:
            sys.stdout.buffer.write(record.encode("latin-1") + b"\n")
            sys.stdout.flush()
            return 0

    out: list[bytes] = []
    found = False
    if existing and not mask & APHTP_NEWFILE:
        try:
            with open(pwfilename, "rb") as f:
                lines = f.read().split(b"\n")
        except OSError:
            err(f"{prog}: unable to read file {pwfilename}\n")
            return ERR_FILEPERM
        if lines and lines[-1] == b"":
            lines.pop()
        for raw in lines:
            line = raw.decode("latin-1")
            scratch = line.lstrip()
            if not scratch or scratch.startswith("#"):
                out.append(raw + b"\n")
                continue
            if ":" not in scratch:
                err(f"{prog}: The file {pwfilename} does not appear to be a valid htpasswd "
                    "file.\n")
                return ERR_INVALID
            name, _, hashpart = scratch.partition(":")
            if name != user:
                out.append(raw + b"\n")
                continue
            found = True
            if mask & APHTP_DELUSER:
                err("Deleting ")
            elif mask & APHTP_VERIFY:
                h = hashpart.split("\r", 1)[0]
                if not h:
                    err(f"Empty hash for user {user}\n")
                    return ERR_INVALID
                ret = verify(ctx, h)
                if ret:
                    err(f"{ctx.errstr}\n")
                    return ret
            else:
                err("Updating ")
                out.append(record.encode("latin-1"))
    if not found:
        if mask & APHTP_DELUSER:
            err(f"User {user} not found\n")
            return 0
        if mask & APHTP_VERIFY:
            err(f"User {user} not found\n")
            return ERR_BADUSER
        err("Adding ")
        out.append(record.encode("latin-1"))
    if mask & APHTP_VERIFY:
        err(f"Password for user {user} correct.\n")
        return 0
    err(f"password for user {user}\n")
    try:
        write_replacing(pwfilename, b"".join(out))
    except OSError:
        err(f"{prog}: unable to update file {pwfilename}\n")
        return ERR_FILEPERM
    return 0


def write_replacing(path: str, data: bytes) -> None:
    """Write through a temporary file, then copy over the target (its mode kept)."""
    with tempfile.TemporaryFile() as tmp:
        tmp.write(data)
        tmp.seek(0)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(tmp.read())


def main() -> None:
    try:
        code = run(sys.argv)
    except KeyboardInterrupt:
        err("\nInterrupted.\n")
        code = ERR_INTERRUPTED
    sys.exit(code)


if __name__ == "__main__":
    main()
