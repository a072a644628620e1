"""mod_rewrite's configuration-time parsing: argument splitting, RewriteRule flags,
RewriteCond patterns and flags, substitution templates and PCRE translation
(manual: RewriteRule, RewriteCond, "RewriteRule Flags")."""

from __future__ import annotations

import re

import pytest

from featherd.errors import DirectiveError
from featherd.modules.mappers.rewrite import rules as R
from featherd.modules.mappers.rewrite.expand import LIT, MAP, RC, RR, VAR, compile_template
from featherd.modules.mappers.rewrite.regex import PCREError, compile_pcre, translate
from featherd.modules.mappers.rewrite.rules import parse_cond, parse_flags, parse_rule, parseargline


# --- parseargline (mod_rewrite's own splitter) ----------------------------------------------
def test_args_two_and_three() -> None:
    assert parseargline("^/a$ /b") == ("^/a$", "/b", None, None)
    assert parseargline("  ^/a$\t/b   [L,R]  ") == ("^/a$", "/b", "[L,R]", None)


def test_args_quotes_and_backslash_blank() -> None:
    assert parseargline('"^/a b$" "/c d" [L]') == ("^/a b$", "/c d", "[L]", None)
    assert parseargline("'^/x' /y") == ("^/x", "/y", None, None)
    # a backslash before a blank keeps the blank (and the backslash) in the word
    assert parseargline(r"^/a\ b$ /c") == (r"^/a\ b$", "/c", None, None)


def test_args_errors() -> None:
    assert parseargline("^/only")[3] == "bad argument line: at least two arguments required"
    err = parseargline("^/a /b L")[3]
    assert err and "third argument must begin with '['" in err
    err = parseargline("^/a /b [L")[3]
    assert err and "third argument must end with ']'" in err


def test_args_trailing_words_after_flags_ignored() -> None:
    assert parseargline("^/a /b [L] junk") == ("^/a", "/b", "[L]", None)


def test_flag_field() -> None:
    assert parse_flags("[L, R=301 ,E=a:b=c,,QSA]") == [("L", ""), ("R", "301"),
                                                       ("E", "a:b=c"), ("QSA", "")]


# --- RewriteRule -----------------------------------------------------------------------------
@pytest.mark.parametrize("flag,attr", [
    ("C", "chain"), ("chain", "chain"), ("L", "last"), ("last", "last"), ("END", "end"),
    ("N", "next_round"), ("next", "next_round"), ("NC", "nocase"), ("nocase", "nocase"),
    ("NE", "noescape"), ("noescape", "noescape"), ("NS", "nosubreq"),
    ("nosubreq", "nosubreq"), ("P", "proxy"), ("proxy", "proxy"), ("PT", "passthrough"),
    ("passthrough", "passthrough"), ("QSA", "qsappend"), ("qsappend", "qsappend"),
    ("QSD", "qsdiscard"), ("QSL", "qslast"), ("R", "redirect"), ("redirect", "redirect"),
    ("DPI", "discardpathinfo"), ("B", "escape_backrefs"), ("BNP", "noplus"),
    ("UnsafeAllow3F", "unsafe_allow3f"), ("UnsafePrefixStat", "unsafe_prefix_stat"),
])
def test_boolean_flags(flag: str, attr: str) -> None:
    rule = parse_rule(f"^/a /b [{flag}]", [])
    assert getattr(rule, attr) is True
    # flags are case-insensitive
    assert getattr(parse_rule(f"^/a /b [{flag.lower()}]", []), attr) is True


def test_forbidden_and_gone_are_status_rules() -> None:
    f = parse_rule("^/a - [F]", [])
    assert f.status_rule and f.nosub and f.forced_status == 403
    g = parse_rule("^/a - [gone]", [])
    assert g.status_rule and g.forced_status == 410


@pytest.mark.parametrize("val,status,status_rule", [
    ("", 302, False), ("301", 301, False), ("permanent", 301, False), ("temp", 302, False),
    ("seeother", 303, False), ("307", 307, False), ("404", 404, True), ("503", 503, True),
    ("bogus", 0, False),
])
def test_redirect_codes(val: str, status: int, status_rule: bool) -> None:
    rule = parse_rule(f"^/a /b [R{'=' + val if val else ''}]", [])
    assert rule.redirect
    assert rule.forced_status == status
    assert rule.status_rule is status_rule


def test_redirect_code_unknown_refused() -> None:
    with pytest.raises(DirectiveError, match="invalid HTTP response code '299' for flag 'R'"):
        parse_rule("^/a /b [R=299]", [])


def test_unknown_flag() -> None:
    with pytest.raises(DirectiveError, match="RewriteRule: unknown flag 'X'"):
        parse_rule("^/a /b [L,X]", [])


def test_valued_flags() -> None:
    rule = parse_rule("^/a /b [S=3,N=7,T=text/x-$1,H=cgi-script,E=A:1,E=!B,"
                      "CO=n:v:.example.com,B=/?]", [])
    assert rule.skip == 3
    assert rule.maxrounds == 7
    assert rule.forced_type is not None and rule.forced_type.text == "text/x-$1"
    assert rule.forced_handler is not None and rule.forced_handler.text == "cgi-script"
    assert [t.text for t in rule.env] == ["A:1", "!B"]
    assert [t.text for t in rule.cookies] == ["n:v:.example.com"]
    assert rule.escape_backrefs and rule.escapes == "/?"


def test_default_n_limit() -> None:
    assert parse_rule("^/a /b [N]", []).maxrounds == R.MAX_ROUNDS == 10000


def test_pattern_negation_nosub_and_nocase() -> None:
    rule = parse_rule("!^/keep - [NC]", [])
    assert rule.notmatch and rule.nosub and rule.pattern == "^/keep"
    assert rule.regex.search("/KEEP") is not None


def test_pattern_compile_error() -> None:
    with pytest.raises(DirectiveError, match=r"cannot compile regular expression '\(unclosed'"):
        parse_rule("(unclosed /b", [])


def test_rule_takes_pending_conditions() -> None:
    c = parse_cond("%{HTTP_HOST} ^x")
    rule = parse_rule("^/a /b", [c])
    assert rule.conds == [c]


def test_describe() -> None:
    rule = parse_rule("!^/a /b [L]", [], "conf", 7)
    assert rule.describe() == "RewriteRule !^/a /b [L]"
    assert (rule.filename, rule.line) == ("conf", 7)


# --- RewriteCond ----------------------------------------------------------------------------
@pytest.mark.parametrize("pattern,ptype,rest", [
    ("^foo", R.REGEX, "^foo"), ("-d", R.FILE_DIR, "-d"), ("-f", R.FILE_EXISTS, "-f"),
    ("-s", R.FILE_SIZE, "-s"), ("-l", R.FILE_LINK, "-l"), ("-L", R.FILE_LINK, "-L"),
    ("-h", R.FILE_LINK, "-h"), ("-x", R.FILE_XBIT, "-x"), ("-U", R.LU_URL, "-U"),
    ("-F", R.LU_FILE, "-F"), ("<abc", R.STR_LT, "abc"), (">abc", R.STR_GT, "abc"),
    ("=abc", R.STR_EQ, "abc"), ("<=abc", R.STR_LE, "abc"), (">=abc", R.STR_GE, "abc"),
    ('=""', R.STR_EQ, ""), ("-lt5", R.INT_LT, "5"), ("-le5", R.INT_LE, "5"),
    ("-gt5", R.INT_GT, "5"), ("-ge5", R.INT_GE, "5"), ("-eq5", R.INT_EQ, "5"),
    ("-z", R.REGEX, "-z"), ("-foo", R.REGEX, "-foo"),
])
def test_cond_pattern_types(pattern: str, ptype: int, rest: str) -> None:
    c = parse_cond(f"%{{REQUEST_URI}} {pattern}")
    assert c.ptype == ptype
    assert c.pattern == rest
    assert not c.notmatch


def test_cond_negation_and_ne() -> None:
    c = parse_cond("%{REQUEST_URI} !-f")
    assert c.notmatch and c.ptype == R.FILE_EXISTS and c.pattern_text == "!-f"
    ne = parse_cond("%{X} -ne3")
    assert ne.ptype == R.INT_EQ and ne.notmatch
    nne = parse_cond("%{X} !-ne3")
    assert nne.ptype == R.INT_EQ and not nne.notmatch


def test_cond_flags() -> None:
    c = parse_cond("%{HTTP_HOST} ^www [NC,OR,NV]")
    assert c.nocase and c.ornext and c.novary
    assert c.regex is not None and c.regex.search("WWW.example") is not None
    c2 = parse_cond("%{HTTP_HOST} ^www [nocase,ornext,novary]")
    assert c2.nocase and c2.ornext and c2.novary
    with pytest.raises(DirectiveError, match="RewriteCond: unknown flag 'L'"):
        parse_cond("%{HTTP_HOST} ^www [L]")


def test_cond_nocase_ignored_for_file_tests() -> None:
    warnings: list[str] = []
    c = parse_cond("%{REQUEST_FILENAME} -f [NC]", "f.conf", 3, warn=warnings.append)
    assert not c.nocase
    assert warnings and "NoCase option for non-regex pattern '-f' is not supported" in \
        warnings[0]
    # string comparisons keep NC
    assert parse_cond("%{X} =abc [NC]").nocase


def test_cond_errors() -> None:
    with pytest.raises(DirectiveError, match="RewriteCond: bad argument line"):
        parse_cond("%{X}")
    with pytest.raises(DirectiveError, match="cannot compile regular expression"):
        parse_cond("%{X} (a")
    with pytest.raises(DirectiveError, match="expr"):
        parse_cond('expr "%{HTTP_HOST} == \'x\'"')


def test_cond_async_marking() -> None:
    assert parse_cond("%{REQUEST_URI} -U").is_async
    assert parse_cond("%{LA-U:REMOTE_USER} ^x").is_async
    assert parse_cond("${map:%{HTTP_HOST}} ^x").is_async
    assert not parse_cond("%{HTTP_HOST} ^x").is_async


# --- templates ------------------------------------------------------------------------------
def test_template_literal_and_escapes() -> None:
    t = compile_template("/plain/path")
    assert t.literal == "/plain/path"
    assert compile_template(r"a\$1\%{X}\\b").literal == r"a$1%{X}\b"
    assert compile_template("end\\").literal == "end\\"


def test_template_backrefs_and_vars() -> None:
    t = compile_template("/x/$1/%2/%{HTTP_HOST}")
    kinds = [p[0] for p in t.parts]
    assert kinds == [LIT, RR, LIT, RC, LIT, VAR]
    assert t.parts[1][1] == 1 and t.parts[3][1] == 2
    assert t.parts[5][2] == "HTTP_HOST"
    assert not t.needs_async


def test_template_maps_nested() -> None:
    t = compile_template("${m:${low:%{HTTP_HOST}}|def-$1}x")
    assert t.parts[0][0] == MAP and t.parts[0][1] == "m"
    key = t.parts[0][2]
    assert key.parts[0][0] == MAP and key.parts[0][1] == "low"
    dflt = t.parts[0][3]
    assert [p[0] for p in dflt.parts] == [LIT, RR]
    assert t.parts[1] == (LIT, "x")
    assert t.needs_async


def test_template_unclosed_and_plain_signs() -> None:
    assert compile_template("${nomap").literal == "${nomap"
    assert compile_template("%{OPEN").literal == "%{OPEN"
    assert compile_template("${noColon}").literal == "${noColon}"
    assert compile_template("100% $x").literal == "100% $x"
    assert compile_template("$").literal == "$"


def test_template_lookahead_is_async() -> None:
    assert compile_template("%{LA-U:REMOTE_USER}").needs_async
    assert compile_template("%{LA-F:REQUEST_FILENAME}").needs_async


# --- PCRE ------------------------------------------------------------------------------------
def test_pcre_named_groups() -> None:
    rx = compile_pcre(r"^/(?<year>\d{4})/(?'slug'[a-z]+)/\k<slug>$")
    m = rx.search("/2024/abc/abc")
    assert m is not None and m.group("year") == "2024" and m.group("slug") == "abc"
    assert compile_pcre(r"(?<x>a)\k{x}").search("aa")
    assert compile_pcre(r"(a)\g{1}").search("aa")
    assert compile_pcre(r"(a)\g1").search("aa")


def test_pcre_lookbehind_untouched() -> None:
    assert compile_pcre(r"(?<=a)b").search("ab")
    assert compile_pcre(r"(?<!a)b").search("cb")


def test_pcre_posix_classes() -> None:
    rx = compile_pcre(r"^[[:alpha:]][[:digit:]]+[[:space:][:punct:]]$")
    assert rx.search("a12.") and rx.search("b3 ") and not rx.search("ab.")
    assert compile_pcre(r"^[^[:alnum:]]$").search("-")


def test_pcre_quoting_and_escapes() -> None:
    assert compile_pcre(r"^\Qa.b*c\E$").search("a.b*c")
    assert not compile_pcre(r"^\Qa.b\E$").search("axb")
    assert compile_pcre(r"^a\z").search("a") and not compile_pcre(r"^a\z").search("a\n")
    assert compile_pcre(r"^a\Z").search("a\n")
    assert compile_pcre(r"\x{41}").search("A")
    assert compile_pcre(r"\e").search("\x1b")
    assert compile_pcre(r"a\hb").search("a\tb")
    # an unknown letter escape is the letter (PCRE), not an error (Python)
    assert compile_pcre(r"\y").search("y")
    # {,n} is literal in PCRE
    assert compile_pcre(r"a{,2}").search("a{,2}")


def test_pcre_ascii_semantics_and_possessive() -> None:
    assert not compile_pcre(r"^\w$").search("\xe9")
    assert not compile_pcre("^E$", nocase=True).search("\xe9")
    assert compile_pcre("^caf$", nocase=True).search("CAF")
    assert compile_pcre(r"^a++b").search("aab")
    assert compile_pcre(r"^(?>a+)b").search("aab")


def test_pcre_errors() -> None:
    with pytest.raises(PCREError):
        compile_pcre("(?R)")
    with pytest.raises(PCREError):
        compile_pcre("[abc")
    with pytest.raises(PCREError):
        compile_pcre("a)")


def test_translate_fast_path() -> None:
    assert translate("^/plain$") == "^/plain$"
    assert isinstance(compile_pcre("^x"), re.Pattern)
