"""The core module with all its parts imported (directives, sections, hooks)."""

from featherd.core import fixup, handlers, sections  # noqa: F401  (register on import)
from featherd.core.core_module import core

__all__ = ["core"]
