"""featherd-logresolve: resolve IP addresses in Apache log files (logresolve).

    featherd-logresolve [-s STATFILE] [-c] < access_log > access_log.new

Each line whose first field is an IP address (IPv4 or IPv6) gets that field replaced by
the host name a reverse lookup gives; each address is looked up once (a cache). ``-c``
also checks that the name resolves back to the address (a double-reverse lookup) and
keeps the address when it does not. ``-s`` writes httpd 2.4's statistics to STATFILE::

    logresolve Statistics:
    Entries: 6
        With name   : 2
        Resolves    : 3
        - No reverse : 2
    Cache hits      : 1
    Cache size      : 3

("Resolves" counts the lines whose first field is an address, as logresolve does.)
"""

from __future__ import annotations

import socket
import sys

from featherd.util.getopt import Getopt, GetoptError

USAGE = """\
{prog} -- Resolve IP-addresses to hostnames in Apache log files.
Usage: {prog} [-s STATFILE] [-c]

Options:
  -s   Record statistics to STATFILE when finished.

  -c   Perform double lookups when resolving IP addresses.
"""


def parse_ip(s: str) -> tuple[int, str] | None:
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, s)
            return fam, s
        except OSError:
            continue
    return None


class Resolver:
    def __init__(self, double: bool) -> None:
        self.double = double
        self.cache: dict[str, str] = {}
        self.entries = self.withname = self.resolves = 0
        self.noreverse = self.doublefailed = self.cachehits = self.cachesize = 0

    def lookup(self, fam: int, ip: str) -> str | None:
        try:
            host = socket.gethostbyaddr(ip)[0]
        except (OSError, UnicodeError):
            self.noreverse += 1
            return None
        if self.double:
            try:
                addrs = {a[4][0] for a in socket.getaddrinfo(host, None, fam)}
            except (OSError, UnicodeError):
                addrs = set()
            if ip not in addrs:
                self.doublefailed += 1
                return None
        return host

    def line(self, line: str) -> str:
        self.entries += 1
        if not line or line[0] not in "0123456789abcdefABCDEF:":
            self.withname += 1
            return line
        first, sep, rest = line.partition(" ")
        if not sep:
            # no space: the address runs into the newline, which no lookup accepts
            self.withname += 1
            return line
        cached = self.cache.get(first)
        if cached is not None:
            self.cachehits += 1
            return f"{cached} {rest}" if cached != first else line
        parsed = parse_ip(first)
        if parsed is None:
            self.withname += 1
            return line
        self.resolves += 1
        self.cachesize += 1
        host = self.lookup(*parsed)
        if host is None:
            self.cache[first] = first
            return line
        self.cache[first] = host
        return f"{host} {rest}"

    def statistics(self) -> str:
        out = ["logresolve Statistics:\n", f"Entries: {self.entries}\n",
               f"    With name   : {self.withname}\n", f"    Resolves    : {self.resolves}\n"]
        if self.noreverse:
            out.append(f"    - No reverse : {self.noreverse}\n")
        if self.doublefailed:
            out.append(f"    - Double lookup failed : {self.doublefailed}\n")
        out.append(f"Cache hits      : {self.cachehits}\n")
        out.append(f"Cache size      : {self.cachesize}\n")
        return "".join(out)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    prog = "featherd-logresolve"
    stats: str | None = None
    double = False
    g = Getopt(args, "s", "c")
    try:
        for ch, val in g:
            if ch == "c":
                double = True
            else:
                stats = val
    except GetoptError as e:
        sys.stderr.write(f"{prog}: {e}\n")
        sys.stderr.write(USAGE.format(prog=prog))
        return 1
    r = Resolver(double)
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    for raw in inp:
        line = raw.decode("latin-1")
        out.write(r.line(line).encode("latin-1"))
    out.flush()
    if stats:
        try:
            with open(stats, "w") as f:
                f.write(r.statistics())
        except OSError:
            sys.stderr.write(f"{prog}: Could not open {stats} for writing.")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
