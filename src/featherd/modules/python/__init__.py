"""Python applications in the worker processes: mod_wsgi (WSGI, PEP 3333, in a thread
pool) and mod_asgi (ASGI 3 on the event loop), mounted with WSGIScriptAlias and
ASGIScriptAlias inside the normal request phases."""

from featherd.modules.python.mod_asgi import asgi
from featherd.modules.python.mod_wsgi import wsgi

__all__ = ["asgi", "wsgi"]
