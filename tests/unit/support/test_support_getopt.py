"""featherd.util.getopt: apr_getopt as httpd's programs read their command lines."""

from __future__ import annotations

import pytest

from featherd.util.getopt import Getopt, GetoptError


def run(argv: list[str], with_arg: str = "nC", flags: str | None = "kvV"
        ) -> tuple[list[tuple[str, str | None]], int]:
    g = Getopt(argv, with_arg, flags)
    return list(g), g.ind


@pytest.mark.parametrize("argv,opts,ind", [
    (["-k", "url"], [("k", None)], 1),
    (["-kv", "-n100", "-C", "a=b", "url"], [("k", None), ("v", None), ("n", "100"),
                                             ("C", "a=b")], 4),
    (["-kn", "5", "x"], [("k", None), ("n", "5")], 2),        # argument in the next word
    (["-nk"], [("n", "k")], 1),                              # glued: the rest of the word
    (["--", "-k"], [], 1),                                   # -- ends the options
    (["-", "-k"], [], 0),                                    # a lone - is an argument
    (["url", "-k"], [], 0),
    ([], [], 0),
])
def test_options_in_order(argv: list[str], opts: list[tuple[str, str | None]], ind: int
                          ) -> None:
    assert run(argv) == (opts, ind)


def test_errors_come_where_apr_getopt_stops() -> None:
    seen = []
    with pytest.raises(GetoptError, match=r"^illegal option -- x$"):
        for o in Getopt(["-k", "-x", "-v"], "n", "kv"):
            seen.append(o)
    assert seen == [("k", None)]                             # -k was acted on first
    with pytest.raises(GetoptError, match=r"^option requires an argument -- n$"):
        run(["-k", "-n"])
    assert run(["-zq"], flags=None)[0] == [("z", None), ("q", None)]   # the caller judges
    assert run(["-a", "x"], with_arg="a", flags="", )[0] == [("a", "x")]
