"""Policy lint: checks a policy against gpt-oss-safeguard's guide (see :mod:`modbot.policy_lint.lint`).

Outside the layered core on purpose: it uses the keyword stage (Scunthorpe checks) and the harmony
vocabulary (token counts), so the command service receives it as a callable from ``modbot.app``.
"""

from modbot.policy_lint.lint import BLOCK_TOKENS, VAGUE_WORDS, lint_policy
from modbot.policy_lint.scunthorpe import INNOCENT_WORDS

__all__ = ["BLOCK_TOKENS", "INNOCENT_WORDS", "VAGUE_WORDS", "lint_policy"]
