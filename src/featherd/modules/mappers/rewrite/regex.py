"""Apache's PCRE syntax for Python's ``re``: moved to :mod:`featherd.util.pcre` (the core's
ap_expr uses it too); these names stay importable from here."""

from __future__ import annotations

from featherd.util.pcre import PCREError, compile_pcre, translate

__all__ = ["PCREError", "compile_pcre", "translate"]
