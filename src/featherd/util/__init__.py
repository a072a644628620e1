"""Generic helpers that the core and several modules share (no module-specific state):
:mod:`.pcre` (Apache's PCRE regular expressions on Python's ``re``) and :mod:`.ipsubnet`
(APR's IP subnets)."""
