"""The moderator commands' handlers, one module per concern: policy, settings, cases, stats and privacy.

Each module holds one frozen class with the ports it needs and a ``handlers()`` table (command type ->
handler) that ``ModeratorService`` merges; none of them checks permissions or audits (the service does).
"""
