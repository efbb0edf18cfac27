"""Policy documents used by the reasoner tests and ``bench/reasoner.py``."""

from __future__ import annotations

#: A realistic ~600-token policy (the size gpt-oss-safeguard's guide recommends), in the project's format.
GAMING_POLICY = """\
+++
id = "pixel-arena"
title = "Pixel Arena community rules"
reasoning_effort = "low"
[actions]
low = "flag"
medium = "remove"
high = "remove_and_timeout"
support = "escalate"
[timeouts]
high = "24h"
[[categories]]
id = "harassment"
title = "Harassment and hate"
[[categories.rules]]
id = "H1"
description = "Insults aimed at a member"
severity = "medium"
[[categories.rules]]
id = "H2"
description = "Slurs and attacks on protected groups"
severity = "high"
[[categories]]
id = "cheats"
title = "Cheats and exploits"
[[categories.rules]]
id = "C1"
description = "Selling, sharing or asking for cheats"
severity = "medium"
keywords = ["aimbot", "wallhack"]
[[categories]]
id = "scams"
title = "Scams and phishing"
[[categories.rules]]
id = "S1"
description = "Phishing links, fake giveaways, account trading"
severity = "high"
[[categories]]
id = "self_harm"
title = "Self-harm"
[[categories.rules]]
id = "SH1"
description = "A member talks about hurting themselves"
severity = "support"
+++
# Instruction
You moderate the chat of Pixel Arena, an online game community of about 40,000 members, most of them
adults, some teenagers. Decide whether the message under judgment breaks one of the rules below. Banter
between friends and trash talk about a match are part of the culture; what matters is whether a message
targets a person, deceives people, or spreads cheats. Judge only the message itself, using the earlier
messages only to understand it.

# Definitions
- **Member**: anyone in the server, including moderators and the developers.
- **Protected group**: people grouped by race, ethnicity, nationality, religion, gender, gender identity,
  sexual orientation, disability or serious illness.
- **Cheat**: any software, macro, exploit or service that gives an unfair advantage in Pixel Arena
  matches, including aim assistance, wall hacks, speed hacks, ranked boosting and sold accounts.
- **Phishing**: a link or instruction meant to obtain a member's password, session, payment details or
  in-game items, often dressed up as a free gift, a giveaway or a staff message.

# Criteria
## H1 - Insults aimed at a member (medium)
Violating: name-calling, mockery or demeaning remarks aimed at a specific member, repeated after being
asked to stop, or wishing harm on them. Not violating: trash talk about play ("you got destroyed"),
self-deprecation, insults aimed at nobody in particular, quoting an insult in order to report it.
## H2 - Slurs and attacks on protected groups (high)
Violating: slurs, dehumanising comparisons, calls for exclusion or violence against a protected group,
including coded or misspelled forms. Not violating: discussing discrimination, reclaimed use about
oneself, historical or educational context.
## C1 - Cheats (medium)
Violating: offering, selling, linking, requesting or explaining how to get cheats or boosting services.
Not violating: reporting a suspected cheater, discussing anti-cheat in general, bugs reported to staff.
## S1 - Scams and phishing (high)
Violating: links to fake login pages, "free skins" or "free nitro" offers, requests for account
credentials, account or item trading for real money. Not violating: links to the official shop or
patch notes, warnings about a scam that do not repeat the link.
## SH1 - Self-harm (support)
A member says they want to hurt or kill themselves. Mark it as a violation of SH1 so a human can reach
out; it is never punished.

# Examples
- "gg ez, you played like a potato" -> 0 (trash talk about play)
- "nobody wants you here, [name], just quit and disappear" -> 1, H1
- "selling undetected aimbot, dm for prices" -> 1, C1
- "claim your free skins: pixel-arena-gifts.example/login" -> 1, S1
- "I can't do this anymore, I want to end it all" -> 1, SH1
"""

#: A second, short policy, to check that prefixes of several policies are kept apart.
SHORT_POLICY = """\
+++
id = "quiet-club"
title = "Quiet club"
[actions]
medium = "remove"
[[categories]]
id = "spam"
title = "Spam"
[[categories.rules]]
id = "SP1"
description = "Advertising and repeated messages"
severity = "medium"
+++
# Instruction
Flag advertising and repeated messages. Everything else is allowed.
"""
