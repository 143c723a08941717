"""Bounded HTTP GETs with the standard library (no third-party client)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class EndpointError(RuntimeError):
    """The endpoint could not be read: unreachable, timed out, HTTP error or bad body."""


def http_get_text(url: str, *, timeout_s: float, params: dict[str, str] | None = None) -> str:
    """GET ``url`` (with query ``params``) and return the body as text.

    Raises:
        EndpointError: With a one-line reason naming the URL, for any failure.
    """
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, headers={"Accept": "text/plain, application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body: bytes = response.read()
            charset = response.headers.get_content_charset() or "utf-8"
    except urllib.error.HTTPError as exc:
        raise EndpointError(f"GET {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise EndpointError(f"GET {url} failed: {exc.reason}") from exc
    except (TimeoutError, OSError) as exc:
        raise EndpointError(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
    return body.decode(charset, errors="replace")


def http_get_json(url: str, *, timeout_s: float, params: dict[str, str] | None = None) -> Any:
    """GET ``url`` and decode a JSON body. Raises :class:`EndpointError` on any failure."""
    text = http_get_text(url, timeout_s=timeout_s, params=params)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EndpointError(f"GET {url}: body is not JSON ({exc})") from exc


def url_host(url: str) -> str:
    """The host part of ``url`` (``gpu-node-1`` for ``http://gpu-node-1:9400/metrics``)."""
    parsed = urllib.parse.urlparse(url)
    return parsed.hostname or url
