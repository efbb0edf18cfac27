"""The moderator command service."""

from bot.commands.service import *  # noqa: F401,F403
from bot.commands.service import __all__  # noqa: F401
