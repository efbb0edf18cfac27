"""The moderator command service: ``parser`` (text -> command), ``presenters`` (how cases and verdicts
read), ``handlers`` (one module per concern) and ``service`` (permission check, dispatch, audit).

Imports only ``modbot.domain`` and ``modbot.ports``. Nothing is re-exported here, so that an adapter importing
the pure ``parser`` or ``presenters`` does not import the service with them.
"""
