"""The moderation core: intake, workers, the stage runner (judge) and enforcement.

Imports only ``modbot.domain``, ``modbot.ports`` and the stages; storage and platforms are reached through ports.
"""
