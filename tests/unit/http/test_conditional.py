"""Tests for featherd.http.conditional (RFC 7232 sections 3 and 6)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from featherd.http.conditional import evaluate
from featherd.http.dates import http_date

LM = 1_600_000_000.0  # Last-Modified
NOW = LM + 3600.0  # request time
ETAG = '"2a-5f3c1b2d4e880"'
WEAK_ETAG = 'W/"2a-5f3c1b2d4e880"'


def hdrs(**kw: str) -> Callable[[str], str | None]:
    table = {k.replace("_", "-").lower(): v for k, v in kw.items()}
    return lambda name: table.get(name.lower())


def ev(
    method: str = "GET",
    etag: str | None = ETAG,
    lm: float | None = LM,
    now: float = NOW,
    **kw: str,
) -> int:
    return evaluate(method, hdrs(**kw), etag, lm, now)


def test_no_conditionals() -> None:
    """No conditional header: proceed."""
    assert ev() == 0
    assert ev(method="POST", etag=None, lm=None) == 0


# --- step 1: If-Match (RFC 7232 3.1) ----------------------------------------


def test_if_match_strong_match_proceeds() -> None:
    """3.1: condition true when a listed tag strongly matches."""
    assert ev(If_Match=ETAG) == 0
    assert ev(If_Match=f'"other", {ETAG}') == 0
    assert ev(method="PUT", If_Match=ETAG) == 0


def test_if_match_no_match_412() -> None:
    """3.1 / 6 step 1: false -> 412 Precondition Failed."""
    assert ev(If_Match='"other"') == 412
    assert ev(method="DELETE", If_Match='"other"') == 412


def test_if_match_weak_never_matches() -> None:
    """3.1: strong comparison, so weak tags on either side fail."""
    assert ev(If_Match=WEAK_ETAG) == 412
    assert ev(etag=WEAK_ETAG, If_Match=WEAK_ETAG) == 412
    assert ev(etag=WEAK_ETAG, If_Match=ETAG) == 412


def test_if_match_star() -> None:
    """3.1: "*" is true when a current representation exists."""
    assert ev(If_Match="*") == 0
    assert ev(etag=None, If_Match="*") == 0


def test_if_match_without_etag_412() -> None:
    """3.1: no current ETag (FileETag None) cannot match a listed tag."""
    assert ev(etag=None, If_Match=ETAG) == 412
    assert ev(etag="", If_Match=ETAG) == 412


def test_if_match_overrides_if_unmodified_since() -> None:
    """6 step 2 applies only when If-Match is absent."""
    old = http_date(LM - 100)
    assert ev(If_Match=ETAG, If_Unmodified_Since=old) == 0


# --- step 2: If-Unmodified-Since (RFC 7232 3.4) -----------------------------


def test_ius_modified_after_412() -> None:
    """3.4: modified after the date -> 412."""
    assert ev(If_Unmodified_Since=http_date(LM - 1)) == 412
    assert ev(method="PUT", If_Unmodified_Since=http_date(LM - 1)) == 412


def test_ius_not_modified_proceeds() -> None:
    """3.4: last modification at or before the date -> proceed."""
    assert ev(If_Unmodified_Since=http_date(LM)) == 0
    assert ev(If_Unmodified_Since=http_date(LM + 10)) == 0


def test_ius_whole_seconds() -> None:
    """Dates compare in whole seconds: sub-second mtime is not 'after'."""
    assert ev(lm=LM + 0.9, If_Unmodified_Since=http_date(LM)) == 0


def test_ius_invalid_date_ignored() -> None:
    """3.4: an invalid HTTP-date is ignored."""
    assert ev(If_Unmodified_Since="yesterday") == 0


def test_ius_no_last_modified_ignored() -> None:
    """3.4: ignored when the resource has no modification date."""
    assert ev(lm=None, If_Unmodified_Since=http_date(0)) == 0


# --- step 3: If-None-Match (RFC 7232 3.2) -----------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_inm_match_get_head_304(method: str) -> None:
    """3.2: a match on GET/HEAD -> 304 Not Modified."""
    assert ev(method=method, If_None_Match=ETAG) == 304
    assert ev(method=method, If_None_Match=f'"x", {ETAG}') == 304


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "get"])
def test_inm_match_other_methods_412(method: str) -> None:
    """3.2: a match on any other method -> 412 (methods are case-sensitive)."""
    assert ev(method=method, If_None_Match=ETAG) == 412


def test_inm_weak_comparison() -> None:
    """3.2: If-None-Match uses the weak comparison function."""
    assert ev(If_None_Match=WEAK_ETAG) == 304
    assert ev(etag=WEAK_ETAG, If_None_Match=ETAG) == 304
    assert ev(method="PUT", etag=WEAK_ETAG, If_None_Match=WEAK_ETAG) == 412


def test_inm_no_match_proceeds() -> None:
    """3.2: no match -> condition true -> proceed."""
    assert ev(If_None_Match='"other"') == 0
    assert ev(etag=None, If_None_Match=ETAG) == 0


def test_inm_star() -> None:
    """3.2: "*" is false when a representation exists: 304 / 412."""
    assert ev(If_None_Match="*") == 304
    assert ev(method="PUT", If_None_Match="*") == 412
    assert ev(etag=None, If_None_Match="*") == 304


def test_inm_takes_precedence_over_ims() -> None:
    """3.3 / 6 step 4: If-Modified-Since is ignored when If-None-Match is present."""
    not_modified = http_date(LM + 10)
    assert ev(If_None_Match='"other"', If_Modified_Since=not_modified) == 0
    modified = http_date(LM - 10)
    assert ev(If_None_Match=ETAG, If_Modified_Since=modified) == 304


def test_if_match_failure_beats_inm() -> None:
    """6: step 1 is evaluated first."""
    assert ev(If_Match='"nope"', If_None_Match=ETAG) == 412


def test_ius_failure_beats_inm() -> None:
    """6: step 2 before step 3."""
    assert ev(If_Unmodified_Since=http_date(LM - 5), If_None_Match=ETAG) == 412


def test_if_match_success_then_inm() -> None:
    """6: after a true If-Match, If-None-Match is still evaluated."""
    assert ev(If_Match=ETAG, If_None_Match=ETAG) == 304


# --- step 4: If-Modified-Since (RFC 7232 3.3) -------------------------------


def test_ims_not_modified_304() -> None:
    """3.3: not modified since the date -> 304."""
    assert ev(If_Modified_Since=http_date(LM)) == 304
    assert ev(If_Modified_Since=http_date(LM + 60)) == 304
    assert ev(method="HEAD", If_Modified_Since=http_date(LM)) == 304


def test_ims_modified_proceeds() -> None:
    """3.3: modified since the date -> normal 200."""
    assert ev(If_Modified_Since=http_date(LM - 1)) == 0


def test_ims_whole_seconds() -> None:
    """Sub-second precision of the mtime is dropped before comparing."""
    assert ev(lm=LM + 0.75, If_Modified_Since=http_date(LM)) == 304


@pytest.mark.parametrize("fmt", ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"])
def test_ims_obsolete_formats(fmt: str) -> None:
    """RFC 7231 7.1.1.1: RFC 850 and asctime dates are accepted."""
    lm = 784111777.0
    assert ev(lm=lm, now=lm + 10, If_Modified_Since=fmt) == 304


def test_ims_only_get_head() -> None:
    """3.3: ignored for methods other than GET and HEAD."""
    assert ev(method="POST", If_Modified_Since=http_date(LM)) == 0
    assert ev(method="PUT", If_Modified_Since=http_date(LM)) == 0


def test_ims_invalid_ignored() -> None:
    """3.3: an invalid date is ignored."""
    assert ev(If_Modified_Since="not a date") == 0
    assert ev(If_Modified_Since="") == 0


def test_ims_future_ignored() -> None:
    """httpd: an If-Modified-Since later than the request time is invalid."""
    assert ev(If_Modified_Since=http_date(NOW + 1)) == 0
    assert ev(If_Modified_Since=http_date(NOW)) == 304


def test_ims_no_last_modified_ignored() -> None:
    """Without a modification date there is nothing to compare."""
    assert ev(lm=None, If_Modified_Since=http_date(LM)) == 0


def test_future_mtime_rationalized() -> None:
    """ap_rationalize_mtime: a future mtime counts as the request time."""
    lm_future = NOW + 500
    assert ev(lm=lm_future, If_Modified_Since=http_date(NOW)) == 304
    assert ev(lm=lm_future, If_Unmodified_Since=http_date(NOW)) == 0


def test_ius_then_ims() -> None:
    """6: a true If-Unmodified-Since does not stop If-Modified-Since."""
    assert ev(If_Unmodified_Since=http_date(LM), If_Modified_Since=http_date(LM)) == 304


def test_headers_get_called_with_canonical_names() -> None:
    """The header accessor is asked for the canonical field names."""
    asked: list[str] = []

    def get(name: str) -> str | None:
        asked.append(name)
        return None

    assert evaluate("GET", get, ETAG, LM, NOW) == 0
    assert asked == ["If-Match", "If-Unmodified-Since", "If-None-Match", "If-Modified-Since"]
