"""apr_getopt, as httpd and its support programs read their command lines: flags may be
clustered (``-tS``), an option's argument is glued (``-n100``) or the next word, ``--``
ends the options and a lone ``-`` is an argument. Options come out in order, so a
program acts on each as apr_getopt's caller loop does (``-V`` before a later bad one)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class GetoptError(Exception):
    """apr_getopt's complaint, without the program name: "illegal option -- x" or
    "option requires an argument -- x"."""


class Getopt:
    """Iterate (option, argument-or-None) over ``argv[start:]``; afterwards ``ind`` is the
    index of the first word that is not an option. ``flags`` None: any other letter is
    a flag (the caller judges it); else a letter in neither set raises GetoptError."""

    def __init__(self, argv: list[str], with_arg: Iterable[str],
                 flags: Iterable[str] | None = None, start: int = 0) -> None:
        self.argv = argv
        self.with_arg = frozenset(with_arg)
        self.flags = None if flags is None else frozenset(flags)
        self.ind = start

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        argv = self.argv
        while self.ind < len(argv):
            a = argv[self.ind]
            if not a.startswith("-") or a == "-":
                return
            self.ind += 1
            if a == "--":
                return
            j = 1
            while j < len(a):
                ch = a[j]
                j += 1
                if ch in self.with_arg:
                    if j < len(a):
                        val = a[j:]
                    elif self.ind < len(argv):
                        val = argv[self.ind]
                        self.ind += 1
                    else:
                        raise GetoptError(f"option requires an argument -- {ch}")
                    yield ch, val
                    break
                if self.flags is not None and ch not in self.flags:
                    raise GetoptError(f"illegal option -- {ch}")
                yield ch, None
