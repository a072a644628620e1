"""mod_ldap's constants: OpenLDAP's result codes and ldap_err2string texts, the
LDAPTrustedMode modes (APR_LDAP_NONE / SSL / STARTTLS), alias dereferencing and the
certificate types of LDAPTrusted*Cert."""

from __future__ import annotations

# OpenLDAP result codes and ldap_err2string texts
LDAP_SUCCESS = 0
LDAP_COMPARE_FALSE = 5
LDAP_COMPARE_TRUE = 6
LDAP_NO_SUCH_ATTRIBUTE = 16
LDAP_NO_SUCH_OBJECT = 32
LDAP_INAPPROPRIATE_AUTH = 48
LDAP_INVALID_CREDENTIALS = 49
LDAP_INSUFFICIENT_ACCESS = 50
LDAP_SERVER_DOWN = -1
LDAP_TIMEOUT = -5
LDAP_FILTER_ERROR = -7
LDAP_CONNECT_ERROR = -11
ERR_STRINGS = {
    0: "Success", 1: "Operations error", 2: "Protocol error", 3: "Time limit exceeded",
    4: "Size limit exceeded", 5: "Compare False", 6: "Compare True",
    7: "Authentication method not supported", 8: "Strong(er) authentication required",
    10: "Referral", 11: "Administrative limit exceeded",
    16: "No such attribute", 17: "Undefined attribute type",
    18: "Inappropriate matching", 19: "Constraint violation", 21: "Invalid syntax",
    32: "No such object", 34: "Invalid DN syntax", 48: "Inappropriate authentication",
    49: "Invalid credentials", 50: "Insufficient access", 51: "Server is busy",
    52: "Server is unavailable", 53: "Server is unwilling to perform", 80: "Other (e.g., implementation specific) error",
    -1: "Can't contact LDAP server", -2: "Local error", -3: "Encoding error",
    -4: "Decoding error", -5: "Timed out", -6: "Unknown authentication method",
    -7: "Bad search filter", -9: "Bad parameter to an ldap routine",
    -11: "Connect error", -12: "Not Supported",
}


def err2string(code: int) -> str:
    return ERR_STRINGS.get(code, "Unknown error")


def is_server_down(code: int) -> bool:
    """AP_LDAP_IS_SERVER_DOWN."""
    return code in (LDAP_SERVER_DOWN, 52, 51)


# APR_LDAP_NONE / SSL / STARTTLS
NONE, SSL_MODE, STARTTLS = 0, 1, 2
MODE_NAMES = {"none": NONE, "ssl": SSL_MODE, "tls": STARTTLS, "starttls": STARTTLS}
DEREF = {"never": "NEVER", "searching": "SEARCH", "finding": "FINDING_BASE",
         "always": "ALWAYS"}

CERT_TYPES = ("CA_DER", "CA_BASE64", "CA_CERT7_DB", "CA_SECMOD", "CERT_DER", "CERT_BASE64",
              "CERT_KEY3_DB", "CERT_NICKNAME", "CERT_PFX", "KEY_DER", "KEY_BASE64", "KEY_PFX")
GLOBAL_ONLY_TYPES = ("CA_CERT7_DB", "CA_SECMOD", "CERT_KEY3_DB")
NETSCAPE_TYPES = ("CA_CERT7_DB", "CA_SECMOD", "CERT_KEY3_DB", "CERT_NICKNAME")
