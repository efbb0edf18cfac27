"""The modbot command line."""

from modbot.cli.main import app, main

__all__ = ["app", "main"]
