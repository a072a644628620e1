"""mod_rewrite: a rule-based rewriting engine to rewrite requested URLs on the fly
(Apache 2.2's manual page and its URL Rewriting Guide; the 2.4 additions where they do
not conflict).

Layout: :mod:`.module` (records, merges, directives), :mod:`.rules` (RewriteRule and
RewriteCond parsing), :mod:`.expand` (substitutions and variables),
:mod:`.conditions`, :mod:`.maps` (RewriteMap), :mod:`.engine` (the rule engine and its
log), :mod:`.uri` (URL helpers), :mod:`.hooks` (translate_name, fixups, the redirect
handler), :mod:`.logs` (RewriteLog files, prg: programs), :mod:`.regex` (PCRE syntax for
Python's re), :mod:`.util` (Apache's escaping), :mod:`.explain` (featherd-rewrite).
"""

from featherd.modules.mappers.rewrite import hooks, logs  # noqa: F401  (register the hooks)
from featherd.modules.mappers.rewrite.maps import register_mapfunc
from featherd.modules.mappers.rewrite.module import rewrite

__all__ = ["register_mapfunc", "rewrite"]
