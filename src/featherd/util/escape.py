"""ap_escape_html (2.2): ``&``, ``<``, ``>`` and the double quote as entities (the
single quote is left alone, unlike :func:`html.escape`)."""

from __future__ import annotations


def escape_html(s: str) -> str:
    """ap_escape_html."""
    if "<" not in s and ">" not in s and "&" not in s and '"' not in s:
        return s
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&quot;")
