"""A small multilingual game-chat set for the language stage and the shipped policy's keyword lists.

Written for these tests (no line is copied from a data set). Two lists:

* :data:`MODERATION_CASES`: ``(language, text, category)`` in 12 languages, half violations of
  ``policies/game-community.md`` (``category`` is the policy category the line violates) and half
  benign (``category`` None). The benign half holds in-game threats ("I'll kill you next round"),
  profanity that is not aimed at anyone, and words that look like slurs or act-now terms in another
  language ("negro" is the colour black in Spanish, "pede" is "asks" in Portuguese, "pedal" is a
  pedal in Polish, "去死" is inside "过去死了", "in the past ... died").
* :data:`LANGUAGE_LINES`: ``(language, text)`` short chat lines for identification: everyday chat in
  the same 12 languages plus a few others, and English game chat that must come out as English or
  undecided (never as another language: that would send it to the reasoner for nothing).

Language codes are ISO 639-1.
"""

from __future__ import annotations

#: (language, text, violated policy category or None)
MODERATION_CASES: list[tuple[str, str, str | None]] = [
    # Spanish
    ("es", "mátate ya, eres un inútil", "harassment"),
    ("es", "sé dónde vives, voy a ir a tu casa", "threats"),
    ("es", "vendo aimbot indetectable, 10 dólares al mes, mándame privado", "cheats"),
    ("es", "sudaca de mierda, vuelve a tu país", "hate"),
    ("es", "el equipo negro ganó la ronda", None),
    ("es", "te voy a matar en la próxima ronda jaja", None),
    ("es", "alguien para jugar ranked esta noche?", None),
    ("es", "necesito una cura, me estoy muriendo", None),
    # Portuguese
    ("pt", "vai se matar, ninguém gosta de você", "harassment"),
    ("pt", "sei onde você mora, vou na sua casa", "threats"),
    ("pt", "vendo conta com todas as skins, só pix", "account-trading"),
    ("pt", "seu macaco imundo, volta pra jaula", "hate"),
    ("pt", "ele pede ajuda toda partida", None),
    ("pt", "morri de novo pra esse boss kkkk", None),
    ("pt", "bora jogar mais uma?", None),
    ("pt", "tô morrendo de rir kkkk", None),
    # Russian
    ("ru", "иди нахуй, убей себя", "harassment"),
    ("ru", "я знаю где ты живёшь, скоро приду", "threats"),
    ("ru", "продаю читы на аим, пиши в лс", "cheats"),
    ("ru", "все чурки должны сдохнуть", "hate"),
    ("ru", "его адрес: ул. Ленина 12, кв 5, зовут Саша Петров", "doxxing"),
    ("ru", "гг, хорошая игра", None),
    ("ru", "убей его, у него мало хп", None),
    ("ru", "кто идёт в рейд сегодня?", None),
    ("ru", "лол, я опять умер", None),
    # Turkish
    ("tr", "kendini öldür, işe yaramaz çöp", "harassment"),
    ("tr", "nerede oturduğunu biliyorum, seni bulacağım", "threats"),
    ("tr", "ucuz hile satıyorum, aimbot ve wallhack, dm at", "cheats"),
    ("tr", "ibne herif oyundan çık", "hate"),
    ("tr", "iyi oyundu, tebrikler", None),
    ("tr", "bu haritada hep ölüyorum", None),
    ("tr", "kim duo atmak ister?", None),
    ("tr", "ölürsem beni diriltin", None),
    # German
    ("de", "bring dich um, du nutzloser spast", "harassment"),
    ("de", "ich weiß wo du wohnst, pass bloß auf", "threats"),
    ("de", "verkaufe günstige cheats, undetected, schreib mir privat", "cheats"),
    ("de", "scheiß kanaken, haut ab aus unserem land", "hate"),
    ("de", "gutes spiel, gg", None),
    ("de", "ich bring dich um in der nächsten runde haha", None),
    ("de", "wer hat lust auf ranked heute abend?", None),
    ("de", "hau ab da, die granate kommt", None),
    # French
    ("fr", "va te pendre, personne ne t'aime", "harassment"),
    ("fr", "je sais où tu habites, fais gaffe", "threats"),
    ("fr", "sale bougnoule, rentre chez toi", "hate"),
    ("fr", "nitro gratuit ici, connecte toi avec ton compte steam: steamcommunlty.ru/gift", "scams"),
    ("fr", "je suis crevé, dernière partie", None),
    ("fr", "bien joué l'équipe", None),
    ("fr", "je vais te tuer au prochain round mdr", None),
    ("fr", "appuie sur la pédale pour accélérer", None),
    # Polish
    ("pl", "zabij się, jesteś bezużyteczny", "harassment"),
    ("pl", "wiem gdzie mieszkasz, czekaj na mnie", "threats"),
    ("pl", "sprzedam konto ze wszystkimi skinami, płatność paypal", "account-trading"),
    ("pl", "wypierdalaj stąd czarnuchu", "hate"),
    ("pl", "wciśnij pedał gazu i jedź na b", None),
    ("pl", "dobra gra, gg", None),
    ("pl", "kto gra dziś wieczorem?", None),
    ("pl", "umarłem znowu, ożyw mnie", None),
    # Italian
    ("it", "ucciditi, nessuno ti vuole qui", "harassment"),
    ("it", "so dove abiti, ti vengo a prendere", "threats"),
    ("it", "frocio di merda, esci dal server", "hate"),
    ("it", "siamo stati ammazzati tutti, che disastro", None),
    ("it", "bella partita ragazzi", None),
    ("it", "qualcuno per una ranked?", None),
    ("it", "il mio personaggio è morto di nuovo", None),
    # Tagalog
    ("tl", "magpakamatay ka na, wala kang kwenta", "harassment"),
    ("tl", "alam ko kung saan ka nakatira, humanda ka", "threats"),
    ("tl", "nagbebenta ako ng hack, aimbot at wallhack, pm lang", "cheats"),
    ("tl", "ang galing mo bro, gg", None),
    ("tl", "patay na ako, revive mo ako", None),
    ("tl", "sino gusto maglaro mamaya?", None),
    ("tl", "bakla ang kaibigan ko at ang galing niya maglaro", None),
    # Chinese
    ("zh", "你这个废物，去死吧", "harassment"),
    ("zh", "出售外挂，自瞄透视，加微信", "cheats"),
    ("zh", "我知道你住哪，等着", "threats"),
    ("zh", "打得好，再来一局", None),
    ("zh", "我又死了，这个boss太难了", None),
    ("zh", "今晚谁一起排位？", None),
    ("zh", "过去死了好几次，现在会玩了", None),
    # Korean
    ("ko", "자살해라 병신아", "harassment"),
    ("ko", "핵 팝니다 에임봇 월핵 디엠주세요", "cheats"),
    ("ko", "너 어디 사는지 알아, 찾아간다", "threats"),
    ("ko", "잘했어요 한 판 더", None),
    ("ko", "또 죽었네 ㅋㅋ", None),
    ("ko", "오늘 밤 랭크 할 사람?", None),
    ("ko", "힐 좀 주세요", None),
    # Arabic
    ("ar", "اقتل نفسك يا فاشل", "harassment"),
    ("ar", "أعرف وين ساكن وراح أجيك", "threats"),
    ("ar", "أبيع حسابات ببجي رخيصة تواصل خاص", "account-trading"),
    ("ar", "لعبة حلوة يا شباب", None),
    ("ar", "مت مرة ثانية ههههه", None),
    ("ar", "مين يلعب معي الليلة؟", None),
    ("ar", "أحتاج علاج بسرعة", None),
    # More violations in the languages with keyword lists (slurs, "kill yourself", threats, scams).
    ("es", "ojalá te mueras, basura", "harassment"),
    ("es", "skins gratis aquí, inicia sesión con steam: steamcommunity-gift.ru", "scams"),
    ("pt", "espero que você morra, lixo", "harassment"),
    ("pt", "robux grátis, é só logar no link", "scams"),
    ("ru", "сдохни, урод", "harassment"),
    ("de", "häng dich auf, du opfer", "harassment"),
    ("fr", "tue toi, sérieux", "harassment"),
    ("tr", "umarım ölürsün", "harassment"),
    ("pl", "obyś zdechł, śmieciu", "harassment"),
    ("it", "spero che tu muoia", "harassment"),
    ("tl", "sana mamatay ka na", "harassment"),
    # More benign lines: profanity aimed at no one, in-game threats, innocent look-alikes.
    ("es", "qué puta jugada, increíble", None),
    ("pt", "a bicha para o servidor está enorme", None),
    ("ru", "этот босс опять меня убил", None),
    ("de", "stirb langsam ist mein lieblingsfilm", None),
    ("fr", "je vais crever de faim, petite pause", None),
    ("tr", "gg, kendini çok geliştirmişsin", None),
    ("pl", "zabiję cię w następnej rundzie haha", None),
]

#: (language, text): everyday short chat lines and English game chat.
LANGUAGE_LINES: list[tuple[str, str]] = [
    *[
        (lang, text)
        for lang, block in {
            "es": "hola a todos|alguien juega?|qué lag tan horrible|vamos equipo|necesito ayuda en la base"
            "|cuidado atrás|jaja qué malo soy|me voy a cenar, ahora vuelvo",
            "pt": "oi gente|alguém joga?|que lag horrível|vamos time|preciso de ajuda na base"
            "|cuidado atrás de você|kkkk sou muito ruim|vou jantar, já volto",
            "ru": "всем привет|кто играет?|ужасный лаг|давай команда|нужна помощь на базе"
            "|сзади осторожно|ахах я такой плохой|пойду поем, скоро вернусь",
            "tr": "herkese selam|oynayan var mı?|çok kötü lag var|hadi takım|üste yardım lazım"
            "|arkana dikkat et|haha çok kötüyüm|yemeğe gidiyorum, birazdan gelirim",
            "de": "hallo zusammen|spielt jemand?|was für ein lag|los team|brauche hilfe an der basis"
            "|pass auf hinter dir|haha bin ich schlecht|gehe kurz essen, bin gleich zurück",
            "fr": "salut tout le monde|quelqu'un joue ?|ce lag est horrible|allez l'équipe"
            "|besoin d'aide à la base|attention derrière toi|mdr je suis trop nul|je vais manger, je reviens",
            "pl": "cześć wszystkim|ktoś gra?|straszny lag|dawaj drużyna|potrzebuję pomocy na bazie"
            "|uważaj, ktoś za tobą|haha ale jestem słaby|idę coś zjeść, zaraz wracam",
            "it": "ciao a tutti|qualcuno gioca?|che lag orribile|forza squadra|serve aiuto alla base"
            "|attento dietro di te|ahah sono troppo scarso|vado a cena, torno subito",
            "tl": "kumusta kayo|may naglalaro ba?|grabe ang lag|tara na team|kailangan ko ng tulong sa base"
            "|ingat sa likod mo|haha ang hina ko|kakain lang ako, babalik ako",
            "zh": "大家好|有人玩吗？|卡死了|加油队友|基地需要支援|小心后面|哈哈我太菜了|我去吃饭，马上回来",
            "ko": "안녕하세요 여러분|누구 게임해요?|렉 너무 심하네|팀 화이팅|기지에 도움 필요해요|뒤에 조심"
            "|ㅋㅋ 나 너무 못한다|밥 먹고 올게요",
            "ar": "مرحبا بالجميع|أحد يلعب؟|اللاق فظيع|يلا يا فريق|نحتاج مساعدة في القاعدة|انتبه وراك"
            "|هههه أنا سيء جدا|بروح أتعشى وراجع",
            "ja": "みんなこんにちは|誰かやる？|ラグひどい|ちょっとご飯食べてくる",
            "uk": "всім привіт|хто грає?|жахливий лаг|зараз повернуся",
            "nl": "hoi allemaal|speelt er iemand?|wat een lag zeg|ik ga eten, ben zo terug",
            "id": "halo semua|ada yang main?|lagnya parah banget|aku makan dulu ya",
            "vi": "chào mọi người|có ai chơi không?|lag quá trời|mình đi ăn cơm đã",
        }.items()
        for text in block.split("|")
    ],
    *[
        ("en", text)
        for text in (
            "gg ez noob|report riki|need heal pls|gg wp|lol|ez|noob team|push mid|arty camping again"
            "|wtf is this matchmaking|nice shot|ty|omw|brb|afk 2 min|rush b no stop|who has smoke"
            "|uninstall pls|ur so bad|kys|report this feeder|invoker so op|ff at 15|go next"
            "|can someone carry me|tank is useless|heal me bro|gj team|lag again wtf|morning all"
            "|anyone wanna duo|im so tilted rn|mid missing|thx for the boost|ggs boys|dont feed|wp|my bad"
            "|jungle diff|nerf this hero|hes hacking|report pudge for feeding|spot the tank on the left"
            "|selling aimbot and wallhack, dm me|free nitro claim here|you are trash go die"
            "|where is my support|def base pls|he is camping behind the rock|cap the flag"
            "|sorry guys dc|one more game?|i hate this map|nice try|wait for me"
        ).split("|")
    ],
    *[(lang, text) for lang, text, _ in MODERATION_CASES],
]
