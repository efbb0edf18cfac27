"""Recently built keyword matchers, so a busy server does not rebuild its matcher for every message."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cachetools import LRUCache

from modbot.domain.policy import Policy
from modbot.stages.keywords.matcher import KeywordMatcher
from modbot.stages.keywords.terms import ExtraTerms

__all__ = ["MatcherCache"]


class MatcherCache:
    """A small LRU of built matchers keyed by (policy version, server extras); owned by the composition root.

    Thread-safe; building happens outside the lock, so two callers may build the same matcher once
    each on a cold cache, which is harmless.
    """

    def __init__(self, maxsize: int = 64) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._items: LRUCache[tuple[str, tuple[ExtraTerms, ...]], KeywordMatcher] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()

    def get(self, policy: Policy, extra: Sequence[ExtraTerms] = ()) -> KeywordMatcher:
        """The matcher for ``policy`` plus ``extra``, built on first use."""
        key = (policy.version, tuple(extra))
        with self._lock:
            matcher = self._items.get(key)
            if matcher is not None:
                self.hits += 1
                return matcher
            self.misses += 1
        matcher = KeywordMatcher.build(policy, key[1])
        with self._lock:
            self._items[key] = matcher
        return matcher

    def clear(self) -> None:
        """Forget every matcher (after a policy or a server's terms change)."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
