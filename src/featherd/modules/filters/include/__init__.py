"""mod_include (Server Side Includes): see mod_include.py."""

from featherd.modules.filters.include.mod_include import include

__all__ = ["include"]
