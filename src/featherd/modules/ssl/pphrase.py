"""SSLPassPhraseDialog (ssl_engine_pphrase.c): pass phrases for encrypted private keys.

Keys are read at start-up, before the server detaches from the terminal and before the
workers are forked. For each encrypted key the pass phrases already known are tried
first (one phrase for N keys is asked once); then:

* ``builtin``: a dialog on the controlling terminal (``/dev/tty``), echo off, up to six
  attempts with Apache's messages;
* ``exec:/path/to/program``: the program is run with ``servername:port`` and the key
  type (``RSA``, ``DSA``, ``ECC``) as arguments; the first line of its output is the
  pass phrase;
* ``|/path/to/program``: a program started once that gets the dialog's prompts on its
  stdin and answers one pass phrase per line on its stdout.

A restart (SIGHUP, SIGUSR1) reuses the phrases of the first start, as Apache keeps its
decrypted keys: only a new or changed key file needs the dialog again, and without a
terminal that is "Init: Unable to read pass phrase [Hint: key introduced or changed
before restart?]".
"""

from __future__ import annotations

import os
import subprocess
import sys
import termios
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from featherd import SERVER_BASEVERSION
from featherd.errors import ConfigError
from featherd.modules.ssl.config import DialogSpec

RETRIES = 5          # BUILTIN_DIALOG_RETRIES
BACKOFF = 2          # BUILTIN_DIALOG_BACKOFF: after this many failures, wait 5 s more each
BACKOFF_SECS = 5.0
PROMPT = "Enter pass phrase:"

#: pass phrases entered since this process started (they outlive restarts)
KNOWN: list[bytes] = []
#: (path, mtime, size) of a key -> the phrase that opened it (None: not encrypted)
BY_KEY: dict[tuple[str, float, int], bytes | None] = {}


def key_type(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, dsa.DSAPrivateKey):
        return "DSA"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ECC"
    return "RSA"


def extract_key_pem(data: bytes) -> bytes | None:
    """The first PEM private key block of a file (a key may sit in the cert file)."""
    start = data.find(b"-----BEGIN ")
    while start >= 0:
        end_label = data.find(b"-----", start + 11)
        label = data[start + 11:end_label]
        if b"PRIVATE KEY" in label:
            stop = data.find(b"-----END " + label + b"-----", end_label)
            if stop < 0:
                return None
            return data[start:stop + len(label) + 14]
        start = data.find(b"-----BEGIN ", end_label)
    return None


def _try(pem: bytes, phrase: bytes | None) -> Any:
    """The key, or None when the phrase is wrong; TypeError: needs a phrase."""
    try:
        return serialization.load_pem_private_key(pem, password=phrase)
    except TypeError:
        if phrase is not None:
            return None      # not encrypted after all
        raise
    except ValueError:
        return None


@dataclass
class Dialog:
    """One start-up's dialog: the terminal it talks on and what it printed."""

    spec: DialogSpec
    restart: bool = False
    tty: Any = None
    shown_header: bool = False
    used: bool = False
    pipe: subprocess.Popen[bytes] | None = None
    log: list[tuple[int, str]] = field(default_factory=list)

    # -- terminal --------------------------------------------------------------------
    def _open_tty(self) -> Any:
        if self.tty is None:
            try:
                fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
                self.tty = os.fdopen(fd, "w+b", buffering=0)
            except OSError:
                if sys.stdin is not None and sys.stdin.isatty():
                    self.tty = _StdioTTY()
                else:
                    self.tty = False
        return self.tty

    def say(self, text: str) -> None:
        if self.spec.kind == "pipe":
            p = self._pipe()
            assert p.stdin is not None
            try:
                p.stdin.write(text.encode())
                p.stdin.flush()
            except OSError:
                pass
            return
        t = self._open_tty()
        if t:
            t.write(text.encode())

    def _header(self) -> None:
        if not self.shown_header:
            self.shown_header = True
            self.say(f"{SERVER_BASEVERSION} mod_ssl (Pass Phrase Dialog)\n"
                     "Some of your private key files are encrypted for security reasons.\n"
                     "In order to read them you have to provide the pass phrases.\n")

    def _read_secret(self) -> bytes | None:
        p = self._pipe()
        assert p.stdout is not None
        line = p.stdout.readline()
        return line.rstrip(b"\r\n") if line else None

    def _pipe(self) -> subprocess.Popen[bytes]:
        if self.pipe is None:
            self.pipe = subprocess.Popen(self.spec.program, shell=True,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return self.pipe

    # -- asking ----------------------------------------------------------------------
    def ask(self, label: str, algo: str, attempt: int) -> bytes | None:
        """One pass phrase for the key of ``label`` (None: nothing could be read)."""
        if self.spec.kind == "exec":
            try:
                out = subprocess.run([self.spec.program, label, algo], capture_output=True,
                                     timeout=60, check=False).stdout
            except (OSError, subprocess.SubprocessError):
                return None
            return out.split(b"\n", 1)[0].rstrip(b"\r") if out else b""
        if self.spec.kind == "builtin" and not self._open_tty():
            return None
        self.used = True
        if attempt == 0:
            self._header()
            self.say(f"\nServer {label} ({algo})\n")
        if self.spec.kind == "pipe":
            self.say(PROMPT + "\n")        # a |pipe program reads lines
            return self._read_secret()
        t = self._open_tty()
        return _read_noecho(t, PROMPT.encode())

    def incorrect(self, left: int) -> None:
        self.say(f"Apache:mod_ssl:Error: Pass phrase incorrect ({left} more "
                 f"retr{'y' if left == 1 else 'ies'} permitted).\n")

    def finish(self) -> None:
        if self.used:
            self.say("\nOK: Pass Phrase Dialog successful.\n")
        self.close()

    def stopped(self, what: str) -> None:
        if self.spec.kind != "exec" and self.tty:
            self.say(f"Apache:mod_ssl:Error: {what}.\n**Stopped\n")
        self.close()

    def close(self) -> None:
        if self.pipe is not None:
            try:
                if self.pipe.stdin:
                    self.pipe.stdin.close()
                self.pipe.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.pipe.kill()
            self.pipe = None
        if self.tty and not isinstance(self.tty, _StdioTTY):
            self.tty.close()
        self.tty = None


class _StdioTTY:
    """stdin/stdout when they are the terminal but /dev/tty can't be opened."""

    def write(self, b: bytes) -> None:
        sys.stdout.buffer.write(b)
        sys.stdout.flush()

    def fileno(self) -> int:
        return sys.stdin.fileno()

    def readline(self) -> bytes:
        return sys.stdin.buffer.readline()


def _read_noecho(t: Any, prompt: bytes) -> bytes | None:
    """Echo off first, then the prompt (what is typed after it is never echoed nor
    thrown away), one line, echo back on."""
    fd = t.fileno()
    old = None
    try:
        old = termios.tcgetattr(fd)
        new = termios.tcgetattr(fd)
        new[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSADRAIN, new)
    except termios.error:
        old = None
    t.write(prompt)
    try:
        line = _readline(t, fd)
    finally:
        if old is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
        t.write(b"\n")
    if line is None:
        return None
    return line.rstrip(b"\r\n")


def _readline(t: Any, fd: int) -> bytes | None:
    if isinstance(t, _StdioTTY):
        line = t.readline()
        return line if line else None
    buf = b""
    while not buf.endswith(b"\n"):
        c = os.read(fd, 1)
        if not c:
            return buf or None
        buf += c
    return buf


def private_key_phrase(path: str, pem: bytes, label: str, dialog: Dialog,
                       index: int = 0) -> bytes | None:
    """The pass phrase that opens ``pem`` (None: the key is not encrypted).
    Raises ConfigError with Apache's wording when it can't be had."""
    try:
        st = os.stat(path)
        key_id = (path, st.st_mtime, st.st_size)
    except OSError:
        key_id = (path, 0.0, len(pem))
    if key_id in BY_KEY:
        phrase = BY_KEY[key_id]
        if phrase is None or _try(pem, phrase) is not None:
            return phrase
    try:
        key = _try(pem, None)
        if key is None:
            raise ConfigError(f"Init: Unable to read server private key from file {path}")
        BY_KEY[key_id] = None
        return None
    except TypeError:
        pass                                   # encrypted
    for phrase in KNOWN:
        if _try(pem, phrase) is not None:
            BY_KEY[key_id] = phrase
            return phrase
    algo = _encrypted_type(pem)
    failures = 0
    while True:
        phrase = dialog.ask(label, algo, failures)
        if phrase is None:
            dialog.stopped("Private key not found")
            if dialog.restart or (dialog.spec.kind == "builtin" and not dialog.tty):
                raise ConfigError("Init: Unable to read pass phrase [Hint: key introduced or "
                                  "changed before restart?]")
            raise ConfigError(f"Init: Private key not found ({label}, {path})")
        if not phrase and dialog.spec.kind != "exec":
            dialog.say("Apache:mod_ssl:Error: Pass phrase empty (needs to be at least 1 "
                       "character).\n")
        elif _try(pem, phrase) is not None:
            KNOWN.append(phrase)
            BY_KEY[key_id] = phrase
            return phrase
        failures += 1
        if dialog.spec.kind == "exec" or failures > RETRIES:
            dialog.stopped("Pass phrase incorrect")
            raise ConfigError(f"Init: Pass phrase incorrect for key {label}:{index} "
                              f"({path})")
        if failures > BACKOFF:
            time.sleep((failures - BACKOFF) * BACKOFF_SECS)
        dialog.incorrect(RETRIES - failures + 1)


def _encrypted_type(pem: bytes) -> str:
    """RSA/DSA/ECC from the PEM label (an encrypted PKCS#8 key doesn't say: RSA)."""
    if b"BEGIN EC PRIVATE" in pem:
        return "ECC"
    if b"BEGIN DSA PRIVATE" in pem:
        return "DSA"
    return "RSA"


__all__ = ["BY_KEY", "Dialog", "KNOWN", "extract_key_pem", "key_type",
           "private_key_phrase"]
