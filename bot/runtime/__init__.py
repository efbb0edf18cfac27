"""What keeps ``modbot serve`` running: the platform supervisor (each platform reconnects on its own)."""

from modbot.runtime.supervisor import (
    CONNECTED,
    PLATFORM_STATES,
    RECONNECTING,
    STARTING,
    STOPPED,
    Backoff,
    PlatformSupervisor,
    StoppedPlatform,
    cancel_and_wait,
)

__all__ = [
    "CONNECTED",
    "PLATFORM_STATES",
    "RECONNECTING",
    "STARTING",
    "STOPPED",
    "Backoff",
    "PlatformSupervisor",
    "StoppedPlatform",
    "cancel_and_wait",
]
