"""Who a Slack member is, as far as moderation cares: admin/owner flags and user-group membership.

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

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["MemberDirectory", "is_usergroup_id"]

log = logging.getLogger(__name__)


def is_usergroup_id(value: str) -> bool:
    """Slack user-group ids start with ``S`` (user ids with ``U``/``W``, channels with ``C``/``G``)."""
    return value.startswith("S") and value[1:].isalnum()


class MemberDirectory:
    """Cached ``users.info`` and ``usergroups.users.list`` lookups per workspace."""

    def __init__(self, *, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.clock = clock
        self._permissions: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}
        self._groups: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}

    def _fresh(self, cache: dict, key: tuple[str, str]) -> frozenset[str] | None:
        hit = cache.get(key)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        return None

    async def permissions(self, client: AsyncWebClient, team_id: str, user_id: str) -> frozenset[str]:
        """``workspace_owner`` / ``workspace_admin`` as ``users.info`` says; empty when unknown."""
        key = (team_id, user_id)
        cached = self._fresh(self._permissions, key)
        if cached is not None:
            return cached
        try:
            response = await client.users_info(user=user_id)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("users.info for %s in %s failed (%s); treating as a plain member", user_id, team_id, exc)
            return frozenset()
        user = response.get("user") or {}
        found = set()
        if user.get("is_owner") or user.get("is_primary_owner"):
            found.add("workspace_owner")
        if user.get("is_admin"):
            found.add("workspace_admin")
        permissions = frozenset(found)
        self._permissions[key] = (self.clock() + self.ttl_s, permissions)
        return permissions

    async def members_of(self, client: AsyncWebClient, team_id: str, group_id: str) -> frozenset[str]:
        """User ids in a user group; empty (and logged) when the group cannot be read."""
        key = (team_id, group_id)
        cached = self._fresh(self._groups, key)
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
        self._groups[key] = (self.clock() + self.ttl_s, members)
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
