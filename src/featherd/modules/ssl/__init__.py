"""mod_ssl: HTTPS for featherd, as Apache 2.2's mod_ssl and its FAQ describe it.

The package follows mod_ssl's own files: :mod:`.mod_ssl` (module record and directives,
ssl_engine_config.c), :mod:`.init` (contexts at start-up, ssl_engine_init.c),
:mod:`.pphrase` (SSLPassPhraseDialog), :mod:`.tls` (the TLS layer under the HTTP
connection, ssl_engine_io.c) with :mod:`.reneg` (per-directory renegotiation) and
:mod:`.starttls` (SSLEngine optional: RFC 2817 upgrade), :mod:`.srp` (TLS-SRP),
:mod:`.kernel` (request hooks, ssl_engine_kernel.c),
:mod:`.vars` (SSL_* variables and log formats, ssl_engine_vars.c), :mod:`.expr`
(SSLRequire), :mod:`.scache` (SSLSessionCache, SSLMutex), :mod:`.proxy` (the SSLProxy*
client side for mod_proxy), :mod:`.libssl` (the OpenSSL calls Python's ssl lacks),
:mod:`.pki` (keys and certificates) and :mod:`.certtool` (the ``featherd-ssl`` tool).

Other modules use :func:`ssl_var_lookup` (``tree.extra["ssl_var_lookup"]``, mod_ssl's
optional function) and :func:`is_https`; mod_proxy uses :func:`proxy_context`.
"""

from featherd.modules.ssl import init as _init  # noqa: F401 - registers the hooks
from featherd.modules.ssl import kernel as _kernel  # noqa: F401 - registers the hooks
from featherd.modules.ssl.mod_ssl import ssl_module
from featherd.modules.ssl.proxy import ProxySSL, proxy_context
from featherd.modules.ssl.vars import is_https, ssl_var_lookup

__all__ = ["ProxySSL", "is_https", "proxy_context", "ssl_module", "ssl_var_lookup"]
