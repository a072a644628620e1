"""featherd-htdigest: manage user files for digest authentication, as Apache's htdigest
("user:realm:MD5(user:realm:password)" lines)."""

from __future__ import annotations

import hashlib
import os
import sys

from featherd.support.htpasswd import err, fs, password_get, write_replacing

MAX_STRING_LEN = 256
USAGE = ("Usage: htdigest [-c] passwordfile realm username\n"
         "The -c flag creates a new file.\n")


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _record(user: str, realm: str) -> bytes:
    pw = password_get("New password: ")
    again = password_get("Re-type new password: ")
    if pw != again:
        err("They don't match, sorry.\n")
        raise _Exit(1)
    h = hashlib.md5(f"{user}:{realm}:{pw}".encode("latin-1", "replace")).hexdigest()
    return f"{user}:{realm}:{h}\n".encode("latin-1", "replace")


def run(argv: list[str]) -> int:
    args = argv[1:]
    try:
        if len(args) == 4:
            if args[0] != "-c":
                err(USAGE)
                return 1
            path = args[1]
            realm = fs(args[2])[:MAX_STRING_LEN - 1]
            user = fs(args[3])[:MAX_STRING_LEN - 1]
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            except OSError as e:
                err(f"Could not open passwd file {path} for writing: {e.strerror}\n")
                return 1
            err(f"Adding password for {user} in realm {realm}.\n")
            with os.fdopen(fd, "wb") as f:
                f.write(_record(user, realm))
            return 0
        if len(args) != 3:
            err(USAGE)
            return 1
        path = args[0]
        realm = fs(args[1])[:MAX_STRING_LEN - 1]
        user = fs(args[2])[:MAX_STRING_LEN - 1]
        try:
            with open(path, "rb") as f:
                lines = f.read().split(b"\n")
        except OSError:
            err(f"Could not open passwd file {path} for reading.\n")
            err("Use -c option to create new one.\n")
            return 1
        if lines and lines[-1] == b"":
            lines.pop()
        out: list[bytes] = []
        found = False
        for raw in lines:
            line = raw.decode("latin-1").rstrip("\r")
            if found or not line or line.startswith("#"):
                out.append(raw + b"\n")
                continue
            parts = line.split(":")
            if parts[0] != user or (parts[1] if len(parts) > 1 else "") != realm:
                out.append(raw + b"\n")
                continue
            err(f"Changing password for user {user} in realm {realm}\n")
            out.append(_record(user, realm))
            found = True
        if not found:
            err(f"Adding user {user} in realm {realm}\n")
            out.append(_record(user, realm))
        write_replacing(path, b"".join(out))
        return 0
    except _Exit as e:
        return e.code


def main() -> None:
    try:
        code = run(sys.argv)
    except KeyboardInterrupt:
        err("\nInterrupted.\n")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
