"""mod_rewrite: a rule-based rewriting engine to rewrite requested URLs on the fly
(Apache 2.2's manual page and its URL Rewriting Guide; the 2.4 additions where they do
not conflict).

Layout: :mod:`.module` (records, merges, directives), :mod:`.rules` (RewriteRule and
RewriteCond parsing), :mod:`.expand` (substitutions and variables),
:mod:`.conditions`, :mod:`.maps` (RewriteMap), :mod:`.engine` (the rule engine, hooks,
RewriteLog), :mod:`.regex` (PCRE syntax for Python's re), :mod:`.explain`
(featherd-rewrite, the explainer).
"""

from featherd.modules.mappers.rewrite import engine  # noqa: F401  (registers the hooks)
from featherd.modules.mappers.rewrite.maps import register_mapfunc
from featherd.modules.mappers.rewrite.module import rewrite

__all__ = ["register_mapfunc", "rewrite"]
