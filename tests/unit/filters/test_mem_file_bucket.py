"""MemFileBucket: a small file's cached bytes travelling as a FILE bucket (no descriptor):
what filters, range slicing and traces do with a FileBucket works the same on it."""

from __future__ import annotations

import os
from pathlib import Path

from featherd.filters.buckets import FileBucket, MemFileBucket, bucket_len, flatten
from featherd.modules.filters.streaming import bucket_type, pieces


def test_reads_like_the_file(tmp_path: Path) -> None:
    data = b"0123456789" * 10
    p = tmp_path / "f.txt"
    p.write_bytes(data)
    fd = os.open(p, os.O_RDONLY)
    fb = FileBucket(fd, 0, len(data), str(p))
    mb = MemFileBucket(data, str(p))
    try:
        assert isinstance(mb, FileBucket) and bucket_type(mb) == "FILE"
        assert mb.fd == -1 and bucket_len(mb) == len(data)
        assert mb.read() is data                       # the whole: no copy
        for n, off in ((5, 0), (10, 95), (200, 0), (3, 50)):
            assert mb.pread(n, off) == fb.pread(n, off)
        part = mb.split(20, 7)
        assert isinstance(part, MemFileBucket)
        assert (part.offset, part.length) == (20, 7)
        assert part.read() == fb.split(20, 7).read() == data[20:27]
        assert part.split(2, 3).read() == data[22:25]
    finally:
        fb.close()


def test_close_is_harmless_and_filters_read_it() -> None:
    data = b"x" * 1000 + b"y" * 1000
    mb = MemFileBucket(data, "/nowhere")
    mb.close()
    mb.close()
    assert mb.read() == data                           # nothing was open: still readable
    assert b"".join(pieces(MemFileBucket(data), 300)) == data
    assert flatten([b"<", MemFileBucket(data, "", 1000, 5), b">"]) == b"<yyyyy>"
