"""Status lines and Apache's canned error texts (http_protocol.c, 2.2)."""

from __future__ import annotations

import html
from typing import Any

REASONS: dict[int, str] = {
    100: "Continue", 101: "Switching Protocols", 102: "Processing",
    200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information",
    204: "No Content", 205: "Reset Content", 206: "Partial Content", 207: "Multi-Status",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other",
    304: "Not Modified", 305: "Use Proxy", 307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request", 401: "Authorization Required", 402: "Payment Required",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Time-out", 409: "Conflict",
    410: "Gone", 411: "Length Required", 412: "Precondition Failed",
    413: "Request Entity Too Large", 414: "Request-URI Too Large",
    415: "Unsupported Media Type", 416: "Requested Range Not Satisfiable",
    417: "Expectation Failed", 422: "Unprocessable Entity", 423: "Locked",
    424: "Failed Dependency", 426: "Upgrade Required", 500: "Internal Server Error",
    501: "Method Not Implemented", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
    504: "Gateway Time-out", 505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates", 507: "Insufficient Storage", 510: "Not Extended",
}

STATUS_LINES: dict[int, str] = {c: f"{c} {r}" for c, r in REASONS.items()}


def status_line(code: int) -> str:
    s = STATUS_LINES.get(code)
    if s is None:
        # Apache maps an unknown code to the first of its class (500 for nonsense)
        base = (code // 100) * 100
        s = STATUS_LINES.get(base, "500 Internal Server Error")
    return s


def is_redirect(code: int) -> bool:
    return 300 <= code < 400 and code != 304


def esc(s: str) -> str:
    return html.escape(s, quote=True)


def canned_error_text(status: int, r: Any) -> str:
    """The body paragraph(s) Apache 2.2 writes for ``status`` (get_canned_error_string),
    byte for byte; ``error-notes`` where 2.2 adds them (add_optional_notes)."""
    uri = esc(r.uri or "")
    method = r.method or ""
    location = r.headers_out.get("Location") or r.err_headers_out.get("Location") or ""
    notes = r.notes.get("error-notes", "")
    if status in (301, 302, 307, 308):
        return f'<p>The document has moved <a href="{esc(location)}">here</a>.</p>\n'
    if status == 303:
        return ("<p>The answer to your request is located "
                f'<a href="{esc(location)}">here</a>.</p>\n')
    if status == 305:
        return ("<p>This resource is only accessible through the proxy\n"
                f"{esc(location)}<br />\nYou will need to configure your client to use "
                "that proxy.</p>\n")
    if status in (407, 401):
        return ("<p>This server could not verify that you\nare authorized to access the "
                "document\nrequested.  Either you supplied the wrong\ncredentials (e.g., bad "
                "password), or your\nbrowser doesn't understand how to supply\nthe "
                "credentials required.</p>\n")
    if status == 400:
        return ("<p>Your browser sent a request that this server could not understand."
                f"<br />\n{notes}</p>\n")
    if status == 403:
        return f"<p>You don't have permission to access {uri}\non this server.</p>\n"
    if status == 404:
        return f"<p>The requested URL {uri} was not found on this server.</p>\n"
    if status == 405:
        return f"<p>The requested method {method} is not allowed for the URL {uri}.</p>\n"
    if status == 406:
        return ("<p>An appropriate representation of the requested resource "
                f"{uri} could not be found on this server.</p>\n"
                + r.notes.get("variant-list", ""))
    if status == 300:
        return r.notes.get("variant-list", "")
    if status == 408:
        return "<p>Server timeout waiting for the HTTP request from the client.</p>\n"
    if status == 410:
        return (f"<p>The requested resource<br />{uri}<br />\nis no longer available on "
                "this server and there is no forwarding address.\nPlease remove all "
                "references to this resource.</p>\n")
    if status == 411:
        return (f"<p>A request of the requested method {method} requires a valid "
                f"Content-length.<br />\n{notes}</p>\n")
    if status == 412:
        return (f"<p>The precondition on the request for the URL {uri} evaluated to "
                "false.</p>\n")
    if status == 413:
        return (f"The requested resource<br />{uri}<br />\ndoes not allow request data "
                f"with {method} requests, or the amount of data provided in\nthe request "
                "exceeds the capacity limit.\n")
    if status == 414:
        return ("<p>The requested URL's length exceeds the capacity\nlimit for this server."
                f"<br />\n{notes}</p>\n")
    if status == 415:
        return ("<p>The supplied request data is not in a format\nacceptable for processing "
                "by this resource.</p>\n")
    if status == 416:
        return ("<p>None of the range-specifier values in the Range\nrequest-header field "
                "overlap the current extent\nof the selected resource.</p>\n")
    if status == 417:
        # 2.2 wrote the header unescaped (an XSS hole); escaped here, as 2.4 does
        expect = esc(r.headers_in.get("Expect") or "")
        return ("<p>The expectation given in the Expect request-header\nfield could not be "
                "met by this server.</p>\n<p>The client sent<pre>\n    Expect: "
                f"{expect}\n</pre>\nbut we only allow the 100-continue expectation.</p>\n")
    if status == 422:
        return ("<p>The server understands the media type of the\nrequest entity, but was "
                "unable to process the\ncontained instructions.</p>\n")
    if status == 423:
        return ("<p>The requested resource is currently locked.\nThe lock must be released "
                "or proper identification\ngiven before the method can be applied.</p>\n")
    if status == 424:
        return ("<p>The method could not be performed on the resource\nbecause the "
                "requested action depended on another\naction and that other action "
                "failed.</p>\n")
    if status == 501:
        return f"<p>{esc(method)} to {uri} not supported.<br />\n{notes}</p>\n"
    if status == 502:
        return ("<p>The proxy server received an invalid\r\nresponse from an upstream "
                f"server.<br />\r\n{notes}</p>\n")
    if status == 503:
        return ("<p>The server is temporarily unable to service your\nrequest due to "
                "maintenance downtime or capacity\nproblems. Please try again later.</p>\n")
    if status == 504:
        return ("<p>The proxy server did not receive a timely response\nfrom the upstream "
                "server.</p>\n")
    if status == 505:
        return ""
    if status == 506:
        return (f"<p>A variant for the requested resource\n<pre>\n{uri}\n</pre>\nis "
                "itself a negotiable resource. This indicates a configuration error.</p>\n")
    if status == 507:
        return ("<p>The method could not be performed on the resource\nbecause the server "
                "is unable to store the\nrepresentation needed to successfully complete "
                "the\nrequest.  There is insufficient free space left in\nyour storage "
                "allocation.</p>\n")
    if status == 510:
        return ("<p>A mandatory extension policy in the request is not\naccepted by the "
                "server for this resource.</p>\n")
    if notes and r.notes.get("verbose-error-to") == "*":
        return notes + "<p />\n"
    admin = esc(r.server.server_admin or "[no address given]")
    return ("<p>The server encountered an internal error or\nmisconfiguration and was unable "
            "to complete\nyour request.</p>\n<p>Please contact the server administrator,\n "
            f"{admin} and inform them of the time the error occurred,\nand anything you might "
            "have done that may have\ncaused the error.</p>\n<p>More information about this "
            "error may be available\nin the server error log.</p>\n")


def error_page(status: int, r: Any, signature: str = "", extra: str = "") -> str:
    line = status_line(status)
    title = line
    h1 = line.split(" ", 1)[1]
    return ('<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n'
            f"<html><head>\n<title>{title}</title>\n</head><body>\n<h1>{h1}</h1>\n"
            f"{canned_error_text(status, r)}{extra}{signature}</body></html>\n")
