"""Who a Slack member is, as far as moderation cares: admin/owner flag and user-group membership.

Slack has no roles. The adapter reports a member's "role ids" as the member's own user id plus the
ids of the user groups (``S…``) it belongs to, among the groups anyone configured (moderator groups,
exempt groups). So ``/mod exempt role add @support-team`` and ``moderator_role_ids = ["S123"]`` work,
and a single member can be listed by user id. Answers are cached briefly: a ``/mod`` click should not
cost two rate-limited API calls every time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from cachetools import TTLCache
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["MemberDirectory", "is_usergroup_id"]

log = logging.getLogger(__name__)


def is_usergroup_id(value: str) -> bool:
    """Slack user-group ids start with ``S`` (user ids with ``U``/``W``, channels with ``C``/``G``)."""
    return value.startswith("S") and value[1:].isalnum()


class MemberDirectory:
    """Cached ``users.info`` and ``usergroups.users.list`` lookups per workspace."""

    def __init__(self, *, ttl_s: float = 60.0, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self._admins: TTLCache[tuple[str, str], bool] = TTLCache(max_entries, ttl_s, timer=clock)
        self._groups: TTLCache[tuple[str, str], frozenset[str]] = TTLCache(max_entries, ttl_s, timer=clock)

    async def is_admin(self, client: AsyncWebClient, team_id: str, user_id: str) -> bool:
        """Whether ``users.info`` calls the member a workspace admin or owner; False when unknown."""
        key = (team_id, user_id)
        cached = self._admins.get(key)
        if cached is not None:
            return cached
        try:
            response = await client.users_info(user=user_id)
        except (SlackApiError, SlackClientError, OSError) as exc:
            # Not remembered: the next command asks again rather than refusing a real admin for a minute.
            log.warning("users.info for %s in %s failed (%s); treating as a plain member", user_id, team_id, exc)
            return False
        user = response.get("user") or {}
        admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        self._admins[key] = admin
        return admin

    async def members_of(self, client: AsyncWebClient, team_id: str, group_id: str) -> frozenset[str]:
        """User ids in a user group; empty (and logged) when the group cannot be read."""
        key = (team_id, group_id)
        cached = self._groups.get(key)
        if cached is not None:
            return cached
        try:
            response = await client.usergroups_users_list(usergroup=group_id)
        except (SlackApiError, SlackClientError, OSError) as exc:
            # Remembered like an answer: this runs for every message, and a group that cannot be read
            # (deleted, free plan, missing scope) must not cost an API call each time.
            log.warning("usergroups.users.list for %s in %s failed (%s)", group_id, team_id, exc)
            members: frozenset[str] = frozenset()
        else:
            members = frozenset(str(u) for u in response.get("users") or ())
        self._groups[key] = members
        return members

    async def role_ids(
        self, client: AsyncWebClient, team_id: str, user_id: str, group_ids: Iterable[str]
    ) -> tuple[str, ...]:
        """The member's own id and the given user groups it belongs to."""
        roles = [user_id]
        for group_id in dict.fromkeys(g for g in group_ids if is_usergroup_id(g)):
            if user_id in await self.members_of(client, team_id, group_id):
                roles.append(group_id)
        return tuple(roles)
