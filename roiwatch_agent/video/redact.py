"""One place that names a source for people: logs, status errors, process names."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_source(source: str) -> str:
    """The source with any password of its URL replaced by ``***`` (the user name stays; a
    user name alone is often a token, so it goes).

    Used wherever a source is named: a camera URL often carries ``user:password@``.
    """
    if "://" not in source or "@" not in source:
        return source
    try:
        parts = urlsplit(source)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None and "@" not in parts.netloc:
        return source
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if parts.password is not None else f"***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def scrub(text: str, source: str) -> str:
    """``text`` (e.g. a library's error message) with the source's credentials taken out."""
    if "://" not in source or "@" not in source:
        return text
    try:
        parts = urlsplit(source)
        secret = parts.password or parts.username
    except ValueError:
        secret = None
    text = text.replace(source, redact_source(source))
    return text.replace(secret, "***") if secret else text
