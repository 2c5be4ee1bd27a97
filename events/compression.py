"""gzip for answers that carry no secret, without the random padding Django adds against BREACH.

Django's GZipMiddleware pads every compressed answer with up to 100 random bytes, so that an
attacker who can reflect text into a page cannot read a secret on it (a CSRF token) from
the compressed sizes. The live status fragment has no secret on it and only answers htmx
(see views.event_status); for it, those bytes are a tenth of every poll that changes.
GZipMiddleware leaves an answer that is already encoded as it is.
"""

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.middleware.gzip import re_accepts_gzip
from django.utils.cache import patch_vary_headers
from django.utils.text import compress_string

_MINIMUM_LENGTH = 200  # as GZipMiddleware: not worth it below


def unpadded_gzip(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.streaming or len(response.content) < _MINIMUM_LENGTH:
            return response
        if response.has_header("Content-Encoding"):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        if not re_accepts_gzip.search(request.headers.get("Accept-Encoding", "")):
            return response
        compressed = compress_string(response.content, max_random_bytes=0)
        if len(compressed) >= len(response.content):
            return response
        response.content = compressed
        response.headers["Content-Length"] = str(len(compressed))
        response.headers["Content-Encoding"] = "gzip"
        return response

    return wrapper
