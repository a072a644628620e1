"""mod_substitute, mod_filter, mod_ext_filter, mod_charset_lite and mod_dumpio without
sockets: directive parsing with Apache's messages, the substitution semantics, provider
matching, charset translation."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from featherd.core.config import load_config
from featherd.errors import ConfigError, DirectiveError
from featherd.filters.buckets import EOS
from featherd.http.headers import Headers
from featherd.modules import builtin_modules
from featherd.modules.filters import mod_charset_lite as cl
from featherd.modules.filters import mod_ext_filter as ef
from featherd.modules.filters import mod_filter as mf
from featherd.modules.filters import mod_substitute as ms
from featherd.modules.filters.mod_dumpio import escape


def _load(tmp_path: Any, text: str) -> Any:
    return load_config(None, builtin_modules(), server_root=str(tmp_path),
                       text="ServerName t.local\n" + text)


def _err(tmp_path: Any, text: str) -> str:
    with pytest.raises(ConfigError) as ei:
        _load(tmp_path, text)
    return ei.value.message


# --- mod_substitute -----------------------------------------------------------------------
@pytest.mark.parametrize("line,msg", [
    ("x/a/b/", "Bad Substitute format, must be an s/// pattern"),
    ("s", "Bad Substitute format, must be a complete s/// pattern"),
    ("s//b/", "Bad Substitute format, must be a complete s/// pattern"),
    ("s/a", "Bad Substitute format, must be a complete s/// pattern"),
    ("s/a/b/z", "Bad Substitute flag, only s///[infq] are supported"),
    ("s/(/b/", "Substitute could not compile regex"),
])
def test_substitute_pattern_errors(line: str, msg: str) -> None:
    with pytest.raises(DirectiveError) as ei:
        ms.parse_pattern(line)
    assert ei.value.args[0] == msg


def test_substitute_semantics() -> None:
    def run(*lines: str, text: str) -> str:
        return ms.substitute_line(tuple(ms.parse_pattern(x) for x in lines), text)

    assert run("s/o/0/", text="foo boo\n") == "f00 b00\n"              # every match
    assert run("s|(\\w+)@(\\w+)|$2 at $1 (&)|", text="me@host") == "host at me (me@host)"
    assert run("s/HELLO/bye/i", text="Hello hello") == "bye bye"
    assert run("s/a.c/X/n", text="abc a.c") == "abc X"                 # fixed string
    assert run("s/A.C/$1/ni", text="a.c") == "$1"                      # literal replacement
    assert run("s/b/c/", "s/ac/X/", text="ab") == "X"                  # f: later ones see it
    assert run("s/b/c/q", "s/ac/X/", text="ab") == "ac"                # q: kept apart
    assert run("s/x*/-/", text="ab") == "-a-b-"                        # empty matches
    assert run("s#/old/#/new/#", text="/old/path") == "/new/path"


def test_substitute_merge_order(tmp_path: Any) -> None:
    tree = _load(tmp_path, "Substitute s/a/1/\n")
    base = tree.main.lookup_defaults[ms.substitute.index]
    child = ms.SubstituteConfig(patterns=(ms.parse_pattern("s/a/2/"),))
    merged = ms.substitute.merge_dir_config(base, child)
    assert [p.replacement for p in merged.patterns] == ["2", "1"]     # the section's first
    child2 = ms.SubstituteConfig(patterns=(ms.parse_pattern("s/a/2/"),), inherit_before=True)
    merged = ms.substitute.merge_dir_config(base, child2)
    assert [p.replacement for p in merged.patterns] == ["1", "2"]


def test_substitute_filter_lines_across_brigades() -> None:
    conf = ms.SubstituteConfig(patterns=(ms.parse_pattern("s/verdana/arial/"),),
                               max_line=ms.UNSET, inherit_before=ms.UNSET)
    r = SimpleNamespace(per_dir_config={ms.substitute.index: conf}, headers_out=Headers(),
                        uri="/", sent_headers=False)
    r.headers_out.set("Content-Length", "99")
    f = ms.SubstituteFilter(r)  # type: ignore[arg-type]
    out = f.filter(r, [b"font: verd"])                 # a partial line waits
    assert out == [] and "Content-Length" not in r.headers_out
    out = f.filter(r, [b"ana;\nx verdana", EOS])
    assert b"".join(b for b in out if isinstance(b, bytes)) == b"font: arial;\nx arial"
    assert out[-1] is EOS


def test_substitute_max_line_length_directive(tmp_path: Any) -> None:
    tree = _load(tmp_path, "SubstituteMaxLineLength 2k\n")
    assert tree.main.lookup_defaults[ms.substitute.index].max_line == 2048
    assert "SubstituteMaxLineLength value not parsable" in \
        _err(tmp_path, "SubstituteMaxLineLength lots\n")


# --- mod_filter ----------------------------------------------------------------------------
def test_filter_provider_parsing_and_order(tmp_path: Any) -> None:
    tree = _load(tmp_path, """
FilterDeclare SSI CONTENT_SET
FilterProvider SSI INCLUDES resp=Content-Type $text/html
FilterProvider SSI SUBSTITUTE req=X-Sub /^y(es)?$/i
FilterProvider SSI DEFLATE env=COMPRESS *
FilterProvider SSI INFLATE Content-Length >=100
FilterProvider SSI SUBSTITUTE handler !text
FilterProvider SSI DEFLATE "%{CONTENT_TYPE} =~ m#^image/#"
FilterChain SSI
FilterProtocol SSI change=yes
FilterProtocol SSI INCLUDES byteranges=no;cache=no
FilterTrace SSI 1
""")
    conf = tree.main.lookup_defaults[mf.filter_mod.index]
    sf = conf.live["SSI"]
    assert sf.ftype == 20 and sf.debug == 1
    assert sf.proto_flags == mf.PROTO_CHANGE | mf.PROTO_CHANGE_LENGTH
    # 2.2: last declared first; the 2.4 expression form after them, in order
    assert [(p.name, p.dispatch, p.match_type) for p in sf.providers] == [
        ("SUBSTITUTE", "handler", "string"), ("INFLATE", "resp", "ge"),
        ("DEFLATE", "env", "defined"), ("SUBSTITUTE", "req", "regex"),
        ("INCLUDES", "ctype", "contains"), ("DEFLATE", "expr", "string")]
    inc = sf.providers[4]
    assert inc.proto_flags == mf.PROTO_NO_BYTERANGE | mf.PROTO_NO_CACHE
    assert mf.build_chain(conf.chain) == ["SSI"]


def _r(**kw: Any) -> Any:
    r = SimpleNamespace(headers_in=Headers(), headers_out=Headers(), subprocess_env={},
                        content_type=None, handler=None, status=200, uri="/", method="GET",
                        notes={})
    r.__dict__.update(kw)
    return r


def test_provider_matching() -> None:
    def p(dispatch: str, value: str, match: str) -> mf.Provider:
        prov = mf.Provider("X", dispatch=dispatch, value=value)
        mf._parse_match(prov, match)
        return prov

    r = _r(content_type="text/html; charset=utf-8", handler="server-parsed")
    r.headers_in.set("X-Num", "42")
    r.headers_out.set("Content-Length", "5000")
    assert mf.provider_matches(r, p("ctype", "content-type", "$TEXT/HTML"))
    assert not mf.provider_matches(r, p("ctype", "content-type", "text/html"))  # whole
    assert mf.provider_matches(r, p("ctype", "content-type", "text/html; charset=UTF-8"))
    assert mf.provider_matches(r, p("req", "X-Num", "=42"))
    assert mf.provider_matches(r, p("req", "X-Num", "<43"))
    assert not mf.provider_matches(r, p("req", "X-Num", "<=41"))
    assert mf.provider_matches(r, p("req", "X-Num", "!>42"))
    assert mf.provider_matches(r, p("resp", "Content-Length", ">4096"))
    assert mf.provider_matches(r, p("handler", "handler", "/^server-/"))
    assert not mf.provider_matches(r, p("env", "NOPE", "*"))        # unset: not defined
    assert not mf.provider_matches(r, p("env", "NOPE", "anything"))
    assert mf.provider_matches(r, p("env", "NOPE", "!anything"))
    r.subprocess_env["GO"] = "1"
    assert mf.provider_matches(r, p("env", "GO", "*"))


@pytest.mark.parametrize("text,msg", [
    ("FilterProvider F DEFLATE", "usage: FilterProvider filter provider condition match"),
    ("FilterProvider F DEFLATE resp=Content-Type", "F : Error parsing FilterProvider "
                                                   "expression"),
    ("FilterProvider F NOSUCH resp=Content-Type x", "Unknown filter provider NOSUCH"),
    ("FilterProvider F DEFLATE hdr=X x", "FilterProvider: unrecognized dispatch table"),
    ("FilterProvider F DEFLATE req=X /abc", "Bad regexp syntax"),
    ("FilterProvider F DEFLATE req=X /(/", "Bad regexp"),
    ("FilterTrace G 1", "Undeclared smart filter G"),
    ("FilterProtocol G change=yes", "FilterProtocol: No such filter"),
    ("FilterDeclare F\nFilterProtocol F INCLUDES change=yes",
     "FilterProtocol: No such provider for this filter"),
    ("<Directory />\nAllowOverride None\n</Directory>\n"
     "<Location /x>\nFilterTrace F 1\n</Location>", "Undeclared smart filter F"),
])
def test_filter_directive_errors(tmp_path: Any, text: str, msg: str) -> None:
    assert msg in _err(tmp_path, text + "\n")


def test_filter_chain_operations_and_merge() -> None:
    def conf(*ops: tuple[str, str | None]) -> mf.FilterConfig:
        return mf.FilterConfig({}, list(ops))

    m = mf.filter_mod.merge_dir_config
    a, b, c = ("+", "A"), ("+", "B"), ("+", "C")
    assert mf.build_chain(m(conf(a, b), conf(c)).chain) == ["A", "B", "C"]
    assert mf.build_chain(m(conf(a), conf(("!", None), c)).chain) == ["C"]   # "=C"
    assert mf.build_chain(m(conf(a, b), conf(("-", "a"))).chain) == ["B"]
    assert mf.build_chain(m(conf(a), conf(("@", "Z"))).chain) == ["Z", "A"]
    assert mf.build_chain(m(conf(a), conf()).chain) == ["A"]


# --- mod_ext_filter --------------------------------------------------------------------------
def test_ext_filter_define(tmp_path: Any) -> None:
    tree = _load(tmp_path, 'ExtFilterDefine up mode=output intype=text/html outtype=text/plain '
                           'PreservesContentLength ftype=20 disableenv=NOUP enableenv=UP '
                           'cmd="/usr/bin/tr \'a-z\' A-Z"\n'
                           'ExtFilterDefine In mode=input cmd=/bin/cat\n')
    sc = tree.main.module_config[ef.ext_filter.index]
    up = sc.filters["up"]
    assert up.args == ["/usr/bin/tr", "a-z", "A-Z"] and up.command == "/usr/bin/tr"
    assert (up.intype, up.outtype, up.preserves_content_length, up.ftype) == \
        ("text/html", "text/plain", True, 20)
    assert (up.enable_env, up.disable_env) == ("UP", "NOUP")
    assert tree.filters["up"][0] == 20 and "in" in tree.input_filters
    assert sc.filters["in"].args == ["/bin/cat"]


@pytest.mark.parametrize("text,msg", [
    ("ExtFilterDefine x mode=sideways cmd=/bin/cat", "Invalid mode: `sideways'"),
    ("ExtFilterDefine x cmd=/bin/cat colour=red", "Unexpected parameter: `colour=red'"),
    ('ExtFilterDefine x cmd="/bin/cat', "Expected cmd= delimiter"),
    ("ExtFilterDefine x mode=output", "Invalid cmd= parameter"),
    ("ExtFilterDefine x cmd=/bin/cat preservescontentlengthX",
     "mangled argument `preservescontentlengthX'"),
    ("ExtFilterDefine x cmd=/bin/cat\nExtFilterDefine X cmd=/bin/cat",
     "ExtFilter X is already defined"),
    ("<Directory />\nExtFilterOptions Loud\n</Directory>", "Invalid ExtFilterOptions option: "
                                                           "Loud"),
    ("ExtFilterOptions LogStderr", "ExtFilterOptions not allowed here"),
])
def test_ext_filter_errors(tmp_path: Any, text: str, msg: str) -> None:
    assert msg in _err(tmp_path, text + "\n")


# --- mod_charset_lite ----------------------------------------------------------------------
def test_translator_handles_split_characters() -> None:
    import codecs

    tr = cl.Translator(codecs.lookup("utf-8"), codecs.lookup("iso-8859-1"))
    data = "café naïve".encode()
    out = b"".join(tr.feed(data[i:i + 1]) for i in range(len(data)))
    assert out == "café naïve".encode("latin-1") and not tr.is_sb
    tr.feed(b"\xc3")
    assert tr.pending() == b"\xc3"
    assert cl.Translator(codecs.lookup("latin-1"), codecs.lookup("cp037")).is_sb
    assert cl._error_text("incomplete", b"\xc3") == \
        "xlate filter - incomplete char at end of input - C3"


def test_charset_options(tmp_path: Any) -> None:
    tree = _load(tmp_path, "CharsetSourceEnc ISO-8859-1\nCharsetDefault UTF-8\n"
                           "CharsetOptions NoImplicitAdd TranslateAllMimeTypes DebugLevel=4\n")
    c = tree.main.lookup_defaults[cl.charset_lite.index]
    assert (c.source, c.default, c.implicit_add, c.force_xlate, c.debug) == \
        ("ISO-8859-1", "UTF-8", False, True, 4)
    assert "Invalid CharsetOptions option: Sometimes" in \
        _err(tmp_path, "CharsetOptions Sometimes\n")


# --- mod_dumpio ----------------------------------------------------------------------------
def test_dumpio_escape_and_directives(tmp_path: Any) -> None:
    assert escape(b"GET / HTTP/1.1\r\nX: \x01\xff\\\t") == \
        "GET / HTTP/1.1\\r\\nX: \\x01\\xff\\\\\\t"
    assert "DumpIOLogLevel requires level keyword" in _err(tmp_path, "DumpIOLogLevel loud\n")
    assert "DumpIOInput must be On or Off" in _err(tmp_path, "DumpIOInput yes\n")
    assert "not allowed here" in _err(tmp_path, "<Location />\nDumpIOOutput On\n</Location>\n")
