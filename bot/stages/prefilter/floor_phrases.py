"""Hand-written lines of the categories that keep a recall floor (see :mod:`.learned`).

They widen the policy's own examples of ``support``/``critical`` rules (a policy carries two or three
per category): the floor compares a message the learned model would allow with these and with the
policy's examples. Written for this project, not taken from any data set.
"""

FLOOR_PHRASES: tuple[str, ...] = (
    # self-harm (support)
    "I don't see the point of living anymore",
    "I've been thinking about ending it all",
    "I want to end my life",
    "I'm going to kill myself",
    "I just want to die",
    "nobody would care if I was dead",
    "everyone would be better off without me",
    "I don't want to be alive anymore",
    "I've been cutting myself again",
    "I'm thinking about suicide",
    "tonight is the night I end it",
    "I wrote my goodbye letter",
    "I have the pills ready",
    "what's the easiest way to kill yourself",
    "I can't take it anymore, I want it all to stop forever",
    "there's no reason for me to keep going",
    "I'm tired of living",
    "I wish I could go to sleep and never wake up",
    # threats (critical)
    "I know where you live and I'm coming for you",
    "I'm going to find you and hurt you for real",
    "I will shoot up the school",
    "I'm bringing a gun tomorrow",
    "watch your back irl, I'll kill you",
    "I'll burn your house down with you inside",
    # doxxing (critical)
    "here is his home address and phone number",
    "I found her real name and where she works",
    "posting your address so everyone can visit you",
    # scams (critical)
    "free nitro, log in here to claim your gift",
    "verify your account on this site or you will be banned",
    "send me your password so I can fix your account",
)
