"""The featherd exception tree.

::

    FeatherdError
     ├── ConfigError          a configuration problem, with file and line when known
     │    └── DirectiveError  raised by a directive handler (message only; the parser adds where)
     └── HTTPError            a request that ends with an HTTP status (handlers may raise it)
"""

from __future__ import annotations


class FeatherdError(Exception):
    """Base of every featherd exception."""


class ConfigError(FeatherdError):
    """A configuration error; ``str()`` is the text httpd prints."""

    def __init__(self, message: str, filename: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.filename = filename
        self.line = line

    def __str__(self) -> str:
        if self.filename is not None and self.line is not None:
            return f"Syntax error on line {self.line} of {self.filename}:\n{self.message}"
        return self.message


class DirectiveError(ConfigError):
    """Raised by directive handlers: the message as Apache words it."""


class HTTPError(FeatherdError):
    """Abort request processing with an HTTP status."""

    def __init__(self, status: int, log: str | None = None):
        super().__init__(status)
        self.status = status
        self.log = log
