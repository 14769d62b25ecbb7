"""URLs as reports and logs show them: the secrets in their query replaced."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def redact(url: str, secret_params: tuple[str, ...] = ("token",)) -> str:
    """``url`` with the values of ``secret_params`` in its query replaced by ``REDACTED``."""
    parts = urlsplit(url)
    query = [(k, "REDACTED" if k in secret_params else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
