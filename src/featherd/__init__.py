"""featherd: the Apache HTTP Server, rebuilt in Python."""

__version__ = "0.1.0"
SERVER_BASEVERSION = "featherd/" + __version__
#: The Apache version whose behaviour featherd follows (<IfVersion>, -v).
APACHE_COMPAT_VERSION = (2, 2, 34)
