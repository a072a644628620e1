"""Buckets: the pieces a body travels in. Data is plain ``bytes``; files travel as
:class:`FileBucket` so that an untouched file can go out with sendfile."""

from __future__ import annotations

import os


class FileBucket:
    __slots__ = ("fd", "path", "offset", "length", "owns_fd")

    def __init__(self, fd: int, offset: int, length: int, path: str = "",
                 owns_fd: bool = True) -> None:
        self.fd = fd
        self.path = path
        self.offset = offset
        self.length = length
        self.owns_fd = owns_fd

    def read(self) -> bytes:
        return os.pread(self.fd, self.length, self.offset)

    def pread(self, n: int, offset: int) -> bytes:
        """Up to ``n`` bytes of the file at ``offset`` (file offset, not bucket offset)."""
        return os.pread(self.fd, n, offset)

    def split(self, start: int, length: int) -> FileBucket:
        return FileBucket(self.fd, self.offset + start, length, self.path, owns_fd=False)

    def close(self) -> None:
        if self.owns_fd and self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1


class MemFileBucket(FileBucket):
    """A small file whose bytes are already in memory (the default handler's small-file
    cache, checked against this request's stat): a FILE bucket to filters and traces,
    read without a descriptor (fd is -1, nothing to close)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes, path: str = "", offset: int = 0,
                 length: int = -1) -> None:
        self.data = data
        self.fd = -1
        self.path = path
        self.offset = offset
        self.length = len(data) - offset if length < 0 else length
        self.owns_fd = False

    def read(self) -> bytes:
        if self.offset == 0 and self.length == len(self.data):
            return self.data
        return self.data[self.offset:self.offset + self.length]

    def pread(self, n: int, offset: int) -> bytes:
        if offset == 0 and n >= len(self.data):
            return self.data
        return self.data[offset:offset + n]

    def split(self, start: int, length: int) -> MemFileBucket:
        return MemFileBucket(self.data, self.path, self.offset + start, length)


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


EOS = _Marker("EOS")
FLUSH = _Marker("FLUSH")


def bucket_len(b: object) -> int:
    if isinstance(b, (bytes, bytearray, memoryview)):
        return len(b)
    if isinstance(b, FileBucket):
        return b.length
    return 0


def flatten(bb: list[object]) -> bytes:
    """Read every data/file bucket into one bytes (for content filters)."""
    out = []
    for b in bb:
        if isinstance(b, (bytes, bytearray, memoryview)):
            out.append(bytes(b))
        elif isinstance(b, FileBucket):
            out.append(b.read())
            b.close()
    return b"".join(out)
