"""featherd-rotatelogs: piped logging program to rotate Apache logs (rotatelogs).

    featherd-rotatelogs [-vlfDtTec] [-L linkname] [-p prog] [-n number] logfile
                        {rotation time in seconds|rotation size(B|K|M|G)}
                        [offset minutes from UTC]

Used as ``CustomLog "|featherd-rotatelogs /var/log/access 86400" common``. What comes on
standard input goes to the current file; before each chunk read it decides whether to
start a new file: none open yet, the size over the limit, or the time interval (a
multiple of the rotation time since the epoch, shifted by the UTC offset or, with -l,
by the local time's) over. The name is ``logfile.nnnnnnnnnn`` (the interval's start,
10 digits) or, when ``logfile`` holds ``%`` conversions, strftime of that start.
Options, messages (-v) and exit codes are those of httpd 2.4's rotatelogs (the superset
of 2.2's -l and -f): -t truncates one file instead of rotating, -T truncates files
opened by a rotation, -n N keeps N old files as logfile.1..N, -L keeps a hard link to
the current file, -p runs a program after each rotation, -e echoes to stdout, -c
creates a file for an interval even without input, -D creates parent directories.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

from featherd.util.getopt import Getopt, GetoptError

BUFSIZE = 65536
REASONS = ("None", "Open a new file", "Forced rotation", "Maximum size reached",
           "Time interval expired")
NONE, NEW, FORCE, SIZE, TIME = range(5)

USAGE_TAIL = """\

Add this:

TransferLog "|{prog} /some/where 86400"

or{sp}

TransferLog "|{prog} /some/where 5M"

to httpd.conf. By default, the generated name will be
<logfile>.nnnn where nnnn is the system time at which the log
nominally starts (N.B. if using a rotation time, the time will
always be a multiple of the rotation time, so you can synchronize
cron scripts with it). If <logfile> contains strftime conversion
specifications, those will be used instead. At the end of each
rotation time or when the file size is reached a new log is
started.

Options:
  -v       Verbose operation. Messages are written to stderr.
  -l       Base rotation on local time instead of UTC.
  -L path  Create hard link from current log to specified path.
  -p prog  Run specified program after opening a new log file. See below.
  -f       Force opening of log on program start.
  -D       Create parent directories of log file.
  -t       Truncate logfile instead of rotating, tail friendly.
  -T       Truncate logfiles opened for rotation, but not the initial logfile.
  -e       Echo log to stdout for further processing.
  -c       Create log even if it is empty.
  -n num   Rotate file by adding suffixes '.1', '.2', ..., '.num'.

The program for '-p' is invoked as "[prog] <curfile> [<prevfile>]"
where <curfile> is the filename of the newly opened logfile, and
<prevfile>, if given, is the filename of the previously used logfile.

"""


class Usage(Exception):
    pass


class Config:
    def __init__(self) -> None:
        self.t_rotation = 0
        self.s_rotation = 0
        self.utc_offset = 0
        self.use_localtime = False
        self.use_strftime = False
        self.force_open = False
        self.truncate = False
        self.truncate_rotated_only = False
        self.create_path = False
        self.verbose = False
        self.echo = False
        self.create_empty = False
        self.num_files = 0
        self.linkfile: str | None = None
        self.postrotate_prog: str | None = None
        self.log_root = ""


def usage(prog: str, reason: str | None) -> None:
    if reason:
        sys.stderr.write(f"{reason}\n")
    sys.stderr.write(f"Usage: {prog} [-vlfDtTec] [-L linkname] [-p prog] [-n number] <logfile> "
                     "{<rotation time in seconds>|<rotation size>(B|K|M|G)} "
                     "[offset minutes from UTC]\n")
    sys.stderr.write(USAGE_TAIL.format(prog=prog, sp=" "))
    sys.stderr.flush()
    raise SystemExit(1)


def _atoi(s: str) -> int:
    digits = ""
    for i, ch in enumerate(s.lstrip()):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            digits += ch
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0


def time_or_size(c: Config, arg: str, last: bool) -> str | None:
    """get_time_or_size."""
    mult = 0
    for suffix, m in (("B", 1), ("K", 1024), ("M", 1024 ** 2), ("G", 1024 ** 3)):
        if suffix in arg:
            mult = m
            ptr = arg.index(suffix)
            break
    if mult:
        if c.s_rotation > 0:
            return "Rotation size parameter allowed only once"
        if ptr + 1 == len(arg):
            c.s_rotation = _atoi(arg) * mult
        if c.s_rotation == 0:
            return "Invalid rotation size parameter"
    elif (c.s_rotation > 0 or c.t_rotation > 0) and last:
        if c.use_localtime:
            return "UTC offset parameter is not valid with -l"
        c.utc_offset = _atoi(arg) * 60
    else:
        if c.t_rotation > 0:
            return "Rotation time parameter allowed only once"
        c.t_rotation = _atoi(arg)
        if c.t_rotation <= 0:
            return "Invalid rotation time parameter"
    return None


def prog_name() -> str:
    name = os.path.basename(sys.argv[0] or "")
    return name if name and not name.endswith(".py") else "featherd-rotatelogs"


def parse(argv: list[str]) -> Config:
    prog = prog_name()
    c = Config()
    flags = {"l": "use_localtime", "f": "force_open", "D": "create_path", "t": "truncate",
             "T": "truncate_rotated_only", "v": "verbose", "e": "echo", "c": "create_empty"}
    g = Getopt(argv, "Lpn", flags)
    try:
        for ch, val in g:
            if ch == "L":
                c.linkfile = val
            elif ch == "p":
                c.postrotate_prog = val
            elif ch == "n":
                c.num_files = _atoi(val or "")
            else:
                setattr(c, flags[ch], True)
    except GetoptError as e:
        sys.stderr.write(f"{prog}: {e}\n")
        usage(prog, None)
    rest = argv[g.ind:]
    if len(rest) < 2 or len(rest) > 4:
        usage(prog, "Incorrect number of arguments")
    c.log_root = rest[0]
    for k, arg in enumerate(rest[1:], 1):
        err = time_or_size(c, arg, k == len(rest) - 1)
        if err:
            usage(prog, err)
    c.use_strftime = "%" in c.log_root
    return c


class Rotator:
    def __init__(self, c: Config) -> None:
        self.c = c
        self.fd: int | None = None
        self.name: str | None = None
        self.t_log_end = 0
        self.reason = NONE
        self.messages = 0

    def now(self) -> int:
        t = time.time()
        off = self.c.utc_offset
        if self.c.use_localtime:
            off = time.localtime(t).tm_gmtoff
        return int(t) + off

    def log(self, msg: str) -> None:
        if self.c.verbose:
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()

    def dump(self) -> None:
        c = self.c
        yn = {True: "yes", False: "no"}
        sys.stderr.write(
            f"Rotation time interval:      {c.t_rotation:12d}\n"
            f"Rotation size interval:      {c.s_rotation:12d}\n"
            f"Rotation time UTC offset:    {c.utc_offset:12d}\n"
            f"Rotation based on localtime: {yn[c.use_localtime]:>12}\n"
            f"Rotation file date pattern:  {yn[c.use_strftime]:>12}\n"
            f"Rotation file forced open:   {yn[c.force_open]:>12}\n"
            f"Create parent directories:   {yn[c.create_path]:>12}\n"
            f"Rotation verbose:            {yn[c.verbose]:>12}\n"
            f"Rotation create empty logs:  {yn[c.create_empty]:>12}\n"
            f"Rotation file name: {c.log_root:>21}\n"
            f"Post-rotation prog: {c.postrotate_prog or 'not used':>21}\n")
        sys.stderr.flush()

    def check(self) -> None:
        c = self.c
        if self.fd is None:
            self.reason = NEW
        elif c.s_rotation:
            try:
                size = os.fstat(self.fd).st_size
            except OSError:
                size = -1
            if size > c.s_rotation:
                self.reason = SIZE
            elif c.t_rotation and self.now() >= self.t_log_end:
                self.reason = TIME
        elif c.t_rotation:
            if self.now() >= self.t_log_end:
                self.reason = TIME
        else:
            sys.stderr.write("No rotation time or size specified\n")
            raise SystemExit(2)
        if self.reason != NONE:
            self.log(f"File rotation needed, reason: {REASONS[self.reason]}")

    def new_name(self) -> str:
        c = self.c
        now = self.now()
        if c.t_rotation:
            start = (now // c.t_rotation) * c.t_rotation
            end = start + c.t_rotation
            if start < self.t_log_end:
                start = now               # a forced rotation inside the interval
            self.t_log_end = end
        else:
            start = now
        if c.use_strftime:
            return time.strftime(c.log_root, time.gmtime(start))
        if c.truncate or c.num_files:
            return c.log_root
        return f"{c.log_root}.{start:010d}"

    def rotate(self) -> None:
        c = self.c
        self.reason = NONE
        name = self.new_name()
        if c.num_files and self.fd is not None:
            self._shift(name)
        if c.create_path:
            d = os.path.dirname(name)
            if d:
                self.log(f"Creating directory tree {d}")
                os.makedirs(d, exist_ok=True)
        self.log(f"Opening file {name}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        if c.truncate or c.num_files or (c.truncate_rotated_only and self.fd is not None):
            flags |= os.O_TRUNC
        try:
            fd = os.open(name, flags, 0o666)
        except OSError as e:
            if self.fd is None:
                sys.stderr.write(f"Could not open log file '{name}' ({e.strerror})\n")
                raise SystemExit(2) from None
            msg = (f"Resetting log file due to error opening new log file, "
                   f"{self.messages:10d} messages lost: {e.strerror[:25]:<25}\n")
            os.ftruncate(self.fd, 0)
            os.write(self.fd, msg.encode())
            self.messages = 0
            return
        prev = self.name
        self._post_rotate(name, prev)
        if self.fd is not None:
            self.log(f"Closing file {self.name}")
            os.close(self.fd)
        self.fd = fd
        self.name = name
        self.messages = 0

    def _shift(self, name: str) -> None:
        n = self.c.num_files
        for k in range(n - 1, 0, -1):
            src, dst = f"{name}.{k}", f"{name}.{k + 1}"
            if os.path.exists(src):
                os.replace(src, dst)
        if os.path.exists(name):
            os.replace(name, f"{name}.1")

    def _post_rotate(self, name: str, prev: str | None) -> None:
        c = self.c
        if c.linkfile:
            try:
                os.unlink(c.linkfile)
            except OSError:
                pass
            self.log(f"Linking {name} to {c.linkfile}")
            try:
                os.link(name, c.linkfile)
            except OSError as e:
                sys.stderr.write(f"Error linking file {name} to {c.linkfile} ({e.strerror})\n")
                raise SystemExit(2) from None
        if not c.postrotate_prog:
            return
        self.log(f"Calling post-rotate program: {c.postrotate_prog}")
        args = [c.postrotate_prog, name] + ([prev] if prev else [])
        try:
            subprocess.Popen(args)
        except OSError as e:
            sys.stderr.write(f"Could not spawn post-rotate process '{c.postrotate_prog}': "
                             f"{e.strerror}\n")

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.messages += 1
        if self.c.echo:
            out = sys.stdout.buffer
            out.write(data)
            out.flush()


def main(argv: list[str] | None = None) -> int:
    c = parse(list(sys.argv[1:] if argv is None else argv))
    rot = Rotator(c)
    if c.verbose:
        rot.dump()
    if c.force_open:
        rot.rotate()
    stdin = sys.stdin.buffer.fileno()
    while True:
        if c.create_empty and c.t_rotation:
            wait = max(0.0, rot.t_log_end - rot.now()) if rot.fd is not None else None
            ready, _, _ = select.select([stdin], [], [], wait)
            if not ready:
                rot.check()
                if rot.reason != NONE:
                    rot.rotate()
                continue
        try:
            data = os.read(stdin, BUFSIZE)
        except OSError:
            return 3
        if not data:
            break
        rot.check()
        if rot.reason != NONE:
            rot.rotate()
        try:
            rot.write(data)
        except OSError as e:
            sys.stderr.write(f"Error writing to log file. {e.strerror}\n")
            return 4
    if rot.fd is not None:
        os.close(rot.fd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
