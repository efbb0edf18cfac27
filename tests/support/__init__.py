"""Helpers shared by several test packages (model builders, loopback servers)."""
