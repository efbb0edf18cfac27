"""Recent channel messages, kept from the events the bot already receives, for the reasoner's context.

Fetching history per message (``conversations.history``) would cost a rate-limited API call for every
message; the bot sees every message of the channels it is in anyway, so a small bounded buffer suffices.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from modbot.domain import ContextMessage, MessageEvent

__all__ = ["RecentMessages"]


@dataclass(slots=True)
class _Seen:
    ts: str
    thread_id: str | None
    author_id: str
    text: str


class RecentMessages:
    """The last ``per_channel`` messages of the ``max_channels`` most recently active channels."""

    def __init__(self, *, max_channels: int = 500, per_channel: int = 20):
        self.max_channels = max_channels
        self.per_channel = per_channel
        self._channels: OrderedDict[str, deque[_Seen]] = OrderedDict()

    def note(self, event: MessageEvent) -> None:
        """Remember a message (an edit replaces the text of the message it edits)."""
        key = f"{event.server.key}/{event.channel_id}"
        messages = self._channels.get(key)
        if messages is None:
            messages = self._channels[key] = deque(maxlen=self.per_channel)
            while len(self._channels) > self.max_channels:
                self._channels.popitem(last=False)
        else:
            self._channels.move_to_end(key)
        for seen in messages:
            if seen.ts == event.message_id:
                seen.text = event.text
                return
        messages.append(_Seen(event.message_id, event.thread_id, event.author_id, event.text))

    def before(self, event: MessageEvent, count: int) -> tuple[ContextMessage, ...]:
        """Up to ``count`` messages that preceded ``event`` in its channel (or in its thread, parent included)."""
        if count <= 0:
            return ()
        messages = self._channels.get(f"{event.server.key}/{event.channel_id}", ())
        earlier = [
            seen
            for seen in messages
            if _ts_key(seen.ts) < _ts_key(event.message_id)
            and (seen.thread_id == event.thread_id or (event.thread_id is not None and seen.ts == event.thread_id))
        ]
        return tuple(ContextMessage(seen.author_id, seen.text) for seen in earlier[-count:])


def _ts_key(ts: str) -> tuple[int, int]:
    # Compare "1700000000.000100" numerically without float rounding.
    seconds, _, micros = ts.partition(".")
    try:
        return int(seconds), int(micros or 0)
    except ValueError:
        return 0, 0
