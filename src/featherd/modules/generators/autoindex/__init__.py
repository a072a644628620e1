"""mod_autoindex: automatic directory listings, as Apache 2.2's mod_autoindex.c.

:mod:`.config` holds the record, its merge and the directive rows; :mod:`.render` the
listing's HTML; :mod:`.handler` the content handler; :mod:`.util` APR's helpers.
"""

from featherd.modules.generators.autoindex import handler  # noqa: F401  (registers hooks)
from featherd.modules.generators.autoindex.config import autoindex_module

__all__ = ["autoindex_module"]
