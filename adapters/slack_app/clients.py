"""Slack Web API clients: one per token, all with the retry policy Slack asks for.

Slack answers an over-eager client with HTTP 429 ``ratelimited`` and a ``Retry-After`` header;
slack-sdk's ``AsyncRateLimitErrorRetryHandler`` sleeps exactly that long and tries again. Server
errors (500/503) and dropped connections are retried with a short backoff.
"""

from __future__ import annotations

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["DEFAULT_API_BASE_URL", "ClientFactory", "retry_handlers"]

DEFAULT_API_BASE_URL = "https://slack.com/api/"


def retry_handlers(max_retries: int = 2) -> list[AsyncRetryHandler]:
    """Retry on rate limits (honouring Retry-After), on 500/503 and on dropped connections."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=max_retries),
        AsyncRateLimitErrorRetryHandler(max_retry_count=max_retries),
        AsyncServerErrorRetryHandler(max_retry_count=max_retries),
    ]


class ClientFactory:
    """Builds and caches ``AsyncWebClient`` objects per token, all aimed at the same API base URL."""

    def __init__(self, base_url: str = DEFAULT_API_BASE_URL, *, timeout_s: int = 30, max_retries: int = 2):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._clients: dict[str | None, AsyncWebClient] = {}

    def client(self, token: str | None = None) -> AsyncWebClient:
        """A client for ``token`` (``None``: a token-less client, e.g. for the OAuth exchange)."""
        client = self._clients.get(token)
        if client is None:
            client = AsyncWebClient(
                token=token,
                base_url=self.base_url,
                timeout=self.timeout_s,
                retry_handlers=retry_handlers(self.max_retries),
            )
            if len(self._clients) > 256:  # rotated or revoked tokens must not pile up forever
                self._clients.clear()
            self._clients[token] = client
        return client
