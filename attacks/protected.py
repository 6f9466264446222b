"""Words no perturbation may touch, because changing them can flip an NLI label.

Negations ("not", "不", "ไม่"), quantifiers ("all", "some"), numbers (digits in any script and
number words) and function words (stopwords) in the 15 XNLI languages.  Swapping "some" for a
"synonym", or translating "never" in a code-switched sentence, silently changes what the
hypothesis claims; a robustness benchmark must not count those edits as label-preserving.

Source of the lists: they are **hand-written** for this project (NLTK's stopwords corpus is
not available here and does not cover all 15 languages anyway).  They are deliberately short
and conservative: when unsure whether a word can change meaning, it is protected.  They are
not exhaustive; in particular morphological negation inside a word (Turkish "-me/-ma",
Swahili "ha-" verb prefixes, Hindi/Urdu compound verbs) is not detected except for a few
listed forms.  Perturbations that only swap dictionary forms rarely meet such words.

Matching is on a normalised key: NFC, case-folded, typographic apostrophes unified; Arabic and
Urdu additionally drop short-vowel marks and tatweel and unify letter variants, so spelling
variants of a listed word are protected too.  Any bump of a list bumps `PROTECTED_VERSION`,
which every perturbation using this module records in its parameters.
"""

from __future__ import annotations

import functools
import unicodedata

import regex

PROTECTED_VERSION = "1.0.0"

KINDS: tuple[str, ...] = ("negation", "quantifier", "number", "stopword")

# Space-separated word lists per language and kind (keys are normalised when loaded).
_LISTS: dict[str, dict[str, str]] = {
    "en": {
        "negation": "not no never n't nobody nothing none neither nor without nowhere cannot "
                    "hardly barely scarcely non",
        "quantifier": "all some every each many few most much more less least several any both "
                      "either enough whole lot lots plenty everyone everybody everything "
                      "someone somebody something anyone anybody anything only",
        "number": "zero one two three four five six seven eight nine ten eleven twelve twenty "
                  "thirty forty fifty sixty seventy eighty ninety hundred hundreds thousand "
                  "thousands million millions billion billions dozen dozens half twice once "
                  "first second third",
        "stopword": "a an the and or but if then so because as of at by for with about against "
                    "between into through during before after above below to from up down in "
                    "out on off over under again further here there when where why how this "
                    "that these those i me my myself we us our ours you your yours he him his "
                    "she her hers it its they them their theirs what which who whom whose is am "
                    "are was were be been being have has had having do does did doing will "
                    "would shall should can could may might must than too very just also own "
                    "same such other another yet while until 's",
    },
    "fr": {
        "negation": "ne n pas jamais aucun aucune rien personne sans ni non nul nulle guère "
                    "nullement",
        "quantifier": "tellement tout toute tous toutes chaque quelque quelques plusieurs beaucoup peu "
                      "certains certaines plupart maints divers diverses plus moins assez trop "
                      "seul seule seulement",
        "number": "zéro un une deux trois quatre cinq six sept huit neuf dix onze douze vingt "
                  "trente cent cents mille million millions milliard milliards douzaine demi "
                  "moitié premier première",
        "stopword": "le la les l un une des du de d au aux et ou mais donc or car que qu qui quoi "
                    "dont où ce cet cette ces c ça cela ceci il ils elle elles on je j me m moi "
                    "tu te t toi nous vous se s lui leur leurs son sa ses mon ma mes ton ta tes "
                    "notre nos votre vos en y dans par pour sur sous avec chez entre vers est "
                    "sont était étaient être été avoir a ai as avons avez ont avait avaient "
                    "sera serait comme si très aussi là ici",
    },
    "es": {
        "negation": "no nunca jamás nada nadie ninguno ninguna ningún ni sin tampoco",
        "quantifier": "todo toda todos todas cada algún alguno alguna algunos algunas mucho "
                      "mucha muchos muchas poco poca pocos pocas varios varias mayoría "
                      "cualquier cualquiera ambos ambas más menos demasiado bastante solo sólo",
        "number": "cero uno una dos tres cuatro cinco seis siete ocho nueve diez once doce "
                  "veinte treinta cien ciento cientos mil millón millones docena medio mitad "
                  "primero primera segundo",
        "stopword": "el la los las lo un unos unas de del al a en y e o u pero que qué quien "
                    "quienes cual cuál como cómo con por para sobre entre hasta desde es son era "
                    "eran ser estar está están estaba fue fueron ha han había he se me te le "
                    "les nos os mi mis tu tus su sus nuestro nuestra este esta estos estas ese "
                    "esa esos esas eso esto aquel aquella yo tú él ella ellos ellas nosotros "
                    "vosotros usted ustedes muy también ya si sí cuando donde porque aquí allí",
    },
    "de": {
        "negation": "nicht kein keine keinen keinem keiner keines nie niemals nichts niemand "
                    "ohne weder noch nein nirgends",
        "quantifier": "alle aller allen alles jeder jede jedes jeden jedem einige einigen "
                      "mehrere viele vielen viel wenige wenig meisten meiste manche beide "
                      "sämtliche mehr weniger etwas nur",
        "number": "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf zwanzig "
                  "dreißig hundert tausend million millionen milliarde milliarden dutzend "
                  "halb hälfte erste zweite",
        "stopword": "der die das den dem des ein eine einen einem einer eines und oder aber "
                    "denn sondern dass daß wenn weil als wie ob zu zum zur von vom mit bei beim "
                    "nach aus auf an am im in ins für über unter vor hinter durch gegen um bis "
                    "ist sind war waren sein bin bist seid hat haben hatte hatten wird werden "
                    "wurde wurden kann können muss müssen soll sollte ich du er sie es wir ihr "
                    "mich mir dich dir ihn ihm uns euch sich mein meine dein seine ihre unser "
                    "auch schon sehr so da dort hier",
    },
    "el": {
        "negation": "δεν δε μη μην όχι ποτέ τίποτα κανείς κανένας κανένα καμία καμιά χωρίς "
                    "ούτε ουδέ",
        "quantifier": "όλοι όλες όλα όλος όλη κάθε μερικοί μερικές μερικά κάποιοι κάποιες "
                      "κάποια κάποιος πολλοί πολλές πολλά πολύ λίγοι λίγες λίγα λίγο "
                      "περισσότεροι περισσότερα περισσότερο λιγότερο μόνο",
        "number": "μηδέν ένα δύο δυο τρία τρεις τέσσερα τέσσερις πέντε έξι επτά εφτά οκτώ "
                  "οχτώ εννέα εννιά δέκα είκοσι εκατό χίλια χιλιάδες εκατομμύριο "
                  "εκατομμύρια μισό πρώτος πρώτη",
        "stopword": "ο η το οι τα τον την της του των τους τις ένας μια μία και ή αλλά ότι "
                    "που πως να θα σε στο στη στην στον στα στους στις από με για ως είναι "
                    "ήταν είμαι είσαι είμαστε είστε έχει έχω έχουν είχε εγώ εσύ αυτός αυτή "
                    "αυτό αυτοί αυτά μου σου μας σας αν όταν ενώ πιο επίσης ήδη εδώ εκεί",
    },
    "bg": {
        "negation": "не няма никога нищо никой никоя никое никакъв никаква никакво без нито",
        "quantifier": "всички всеки всяка всяко всичко някои някой някоя някакъв няколко много "
                      "малко повечето повече по-малко само",
        "number": "нула един една едно два две три четири пет шест седем осем девет десет "
                  "двадесет сто хиляда хиляди милион милиона милиард половин първи първа",
        "stopword": "и или но а че да ще се си е са бях беше бяха съм сме сте в във на от за с "
                    "със по при към до през като ако когато който която което които този тази "
                    "това тези той тя то те аз ти ние вие мен ме теб него го нея я нас ни вас "
                    "ви тях ги му ѝ им мой моя мое мои твой негов неин наш ваш техен също още "
                    "вече тук там",
    },
    "ru": {
        "negation": "не ни нет никогда ничего ничто никто никого никому никакой никакая "
                    "никакое никакие нельзя без отнюдь",
        "quantifier": "все всё весь вся всех каждый каждая каждое некоторые несколько много "
                      "мало многие большинство немного любой больше меньше только",
        "number": "ноль один одна одно два две три четыре пять шесть семь восемь девять "
                  "десять двадцать сто тысяча тысячи тысяч миллион миллиона миллионов "
                  "миллиард половина первый первая",
        "stopword": "и или но а что чтобы как если когда который которая которое которые это "
                    "этот эта эти тот та те то в во на с со к ко по за из от до у о об при для "
                    "через над под про я ты он она оно мы вы они меня мне тебя тебе его ему её "
                    "ее ей нас нам вас вам их им себя свой своя свои мой моя мои твой наш ваш "
                    "был была было были быть есть будет будут бы же ли уже ещё еще тоже также "
                    "очень здесь там",
    },
    "tr": {
        "negation": "değil yok hiç hiçbir hiçbiri asla hayır ne olmayan olmadan",
        "quantifier": "her herkes hepsi bütün tüm bazı bazen birkaç birçok çok az çoğu "
                      "birçoğu daha en sadece yalnız yalnızca",
        "number": "sıfır bir iki üç dört beş altı yedi sekiz dokuz on yirmi otuz yüz bin "
                  "milyon milyar yarım ilk birinci ikinci",
        "stopword": "ve veya ya da de ama fakat ancak ki bu şu o bunlar şunlar onlar ben sen "
                    "biz siz beni seni onu bana sana ona bizim sizin onların benim senin onun "
                    "için ile gibi kadar mi mı mu mü ise olarak olan oldu var neden niye nasıl "
                    "sonra önce göre",
    },
    "ar": {
        "negation": "لا لم لن ليس ليست ليسوا لست لسنا ما غير بدون دون أبدا قط لاشيء",
        "quantifier": "كل جميع بعض كثير كثيرة كثيرون عدة معظم أغلب قليل قليلة أي أحد فقط "
                      "أكثر أقل",
        "number": "صفر واحد واحدة اثنان اثنين اثنتان ثلاث ثلاثة أربع أربعة خمس خمسة ست ستة "
                  "سبع سبعة ثمان ثماني ثمانية تسع تسعة عشر عشرة عشرون عشرين مائة مئة ألف "
                  "آلاف مليون ملايين مليار نصف أول أولى",
        "stopword": "في من إلى على عن مع هذا هذه ذلك تلك هؤلاء الذي التي الذين و أو ثم أن إن "
                    "كان كانت يكون تكون هو هي هم هن أنا أنت نحن أنتم له لها لهم به بها عند قد "
                    "بين حتى إذا لكن لأن كما هناك هنا ف ب ل ك منذ بعد قبل أيضا جدا",
    },
    "vi": {
        "negation": "không chẳng chả chưa đừng chớ",
        "quantifier": "tất cả mọi mỗi từng nhiều ít vài hết những các chỉ",
        "number": "một hai ba bốn năm sáu bảy tám chín mười trăm nghìn ngàn triệu tỷ tỉ nửa "
                  "linh lẻ",
        "stopword": "và hoặc hay nhưng mà thì là của cho với trong trên dưới tại từ đến về "
                    "này đó kia ấy tôi bạn anh chị em ông bà nó họ chúng ta mình cái được bị "
                    "đã đang sẽ có rất cũng vẫn nếu khi vì để như ở ra vào lại còn thế nào "
                    "gì ai",
    },
    "th": {
        "negation": "ไม่ มิ ไม่ได้ ไม่มี ไม่ใช่ อย่า ห้าม ปราศจาก ไร้ เปล่า หามิได้ มิได้",
        "quantifier": "อีก ทั้งหมด ทุก ทุกคน บาง บางคน บางอย่าง หลาย มาก น้อย ส่วนใหญ่ แต่ละ ทั้ง "
                      "เท่านั้น เพียง",
        "number": "ศูนย์ หนึ่ง สอง สาม สี่ ห้า หก เจ็ด แปด เก้า สิบ ยี่สิบ ร้อย พัน หมื่น แสน "
                  "ล้าน ครึ่ง แรก",
        "stopword": "และ หรือ แต่ ที่ ซึ่ง อัน ของ ใน บน กับ จาก ถึง เพื่อ โดย ว่า เป็น คือ "
                    "อยู่ มี ได้ จะ แล้ว ก็ ไป มา นี้ นั้น เขา เธอ ฉัน ผม คุณ เรา พวก มัน ให้ แก่ "
                    "แค่ ยัง เมื่อ ถ้า เพราะ จึง ต่อ กัน ครับ ค่ะ นะ การ ความ",
    },
    "zh": {
        "negation": "不 没 没有 别 未 无 非 勿 莫 否 不是 不要 不会 不能 从不 从未 毫无 绝不 "
                    "并不 决不 无法 并非",
        "quantifier": "所有 一切 每 每个 各 各个 全部 都 有些 一些 某些 许多 很多 多数 大多数 "
                      "少数 几 几个 任何 整个 全 只 只有 仅 仅仅 更 最",
        "number": "零 〇 一 二 两 三 四 五 六 七 八 九 十 百 千 万 亿 半 第一",
        "stopword": "的 了 和 与 及 或 是 在 有 我 你 他 她 它 我们 你们 他们 她们 它们 这 那 这个 "
                    "那个 这些 那些 就 也 而 但 但是 因为 所以 如果 把 被 对 从 到 给 为 为了 向 "
                    "于 以 之 其 吗 呢 吧 啊 着 过 地 得 很 还 又 再 自己 什么 谁 哪 这样 那样 会 "
                    "能 要 可以",
    },
    "hi": {
        "negation": "नहीं नही न ना मत बिना कभी",
        "quantifier": "सब सभी सारे सारा सारी हर प्रत्येक कुछ कई अनेक बहुत अधिकांश ज़्यादातर "
                      "ज्यादातर थोड़ा थोड़े थोड़ी कम कोई केवल सिर्फ़ सिर्फ ज़्यादा ज्यादा",
        "number": "शून्य एक दो तीन चार पांच पाँच छह छः सात आठ नौ दस बीस सौ हज़ार हजार लाख "
                  "करोड़ दर्जन आधा आधी पहला पहली",
        "stopword": "का की के को में से पर और या लेकिन तो भी ही है हैं था थी थे हो होना होता "
                    "होती होते गया गई गए यह वह ये वे इस उस इन उन मैं हम तुम आप मुझे हमें उसे "
                    "उन्हें मेरा मेरी मेरे हमारा तुम्हारा आपका उसका उसकी उसके अपना अपनी अपने "
                    "कि जो जब तब अगर क्योंकि लिए साथ द्वारा तक कर करना रहा रही रहे ने",
    },
    "sw": {
        "negation": "si sio siyo hapana hakuna bila wala kamwe hana hawana sina huna hatuna "
                    "hamna hakuwa hawakuwa haikuwa",
        "quantifier": "wote yote zote kila baadhi wengi mengi nyingi machache wachache kidogo "
                      "chache tu pekee zaidi",
        "number": "sifuri moja mmoja mbili wawili tatu watatu nne wanne tano watano sita saba "
                  "nane tisa kumi ishirini mia elfu milioni nusu kwanza",
        "stopword": "na au lakini kwa ya wa la za cha vya kwamba ni kuwa katika juu chini "
                    "hapa pale huko mimi wewe yeye sisi ninyi wao huyu hii hiki hawa hizi "
                    "hicho hilo hao yule ile kile pia sana kama sababu ili baada kabla hadi "
                    "mpaka bado tena ambaye ambao ambacho ambayo",
    },
    "ur": {
        "negation": "نہیں نہ مت بغیر بنا کبھی نا",
        "quantifier": "سب تمام سارے ہر کچھ کئی بہت زیادہ اکثر تھوڑا کم کوئی چند صرف",
        "number": "صفر ایک دو تین چار پانچ چھ سات آٹھ نو دس بیس سو ہزار لاکھ کروڑ آدھا پہلا",
        "stopword": "کا کی کے کو میں سے پر اور یا لیکن مگر تو بھی ہی ہے ہیں تھا تھی تھے ہو یہ "
                    "وہ اس ان ہم تم آپ مجھے ہمیں اسے انہیں میرا میری میرے ہمارا اپنا اپنی اپنے "
                    "کہ جو جب تب اگر کیونکہ لیے لئے ساتھ تک کر کرنا رہا رہی رہے نے گیا گئی گئے",
    },
}

LANGUAGES: frozenset[str] = frozenset(_LISTS)

_ARABIC_MARKS = regex.compile(r"[\u064B-\u0652\u0670\u0640]")
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه"})
_URDU_LETTERS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ه": "ہ"})
_EDGE_PUNCT = regex.compile(r"^[^\p{L}\p{M}\p{N}]+|[^\p{L}\p{M}\p{N}]+$")
_INNER_SPLIT = regex.compile(r"['\-]")
_ZH_NUMERALS = frozenset("零〇一二两三四五六七八九十百千万亿半几")
_ZH_NEGATION_CHARS = frozenset("不没未无勿莫否")
_TH_NUMBER = regex.compile(r"^(?:หนึ่ง|สอง|สาม|สี่|ห้า|หก|เจ็ด|แปด|เก้า|สิบ|ยี่|เอ็ด|ร้อย|พัน|หมื่น|แสน|ล้าน)+$")
_AR_PREFIXES = ("و", "ف")


def normalize(word: str, language: str) -> str:
    """The matching key: NFC, case-folded, script-specific spelling variants unified."""
    key = unicodedata.normalize("NFC", word)
    if language in ("tr",):
        key = key.replace("I", "ı").replace("İ", "i")  # dotted/dotless i: casefold gets it wrong
    key = key.casefold().replace("’", "'")
    key = _EDGE_PUNCT.sub("", key)
    if language in ("ar", "ur"):
        key = _ARABIC_MARKS.sub("", key)
        key = key.translate(_ARABIC_LETTERS if language == "ar" else _URDU_LETTERS)
    return key


@functools.lru_cache(maxsize=None)
def _table(language: str) -> dict[str, frozenset[str]]:
    """Normalised word sets of one language, built once per process."""
    if language not in _LISTS:
        raise KeyError(f"no protected-word lists for language {language!r}; "
                       f"known: {', '.join(sorted(_LISTS))}")
    return {kind: frozenset(normalize(w, language) for w in text.split())
            for kind, text in _LISTS[language].items()}


def _has_digit(key: str) -> bool:
    """Digits of any script (Arabic-Indic, Devanagari, Thai ...) and other numeric signs."""
    return any(unicodedata.category(ch).startswith("N") for ch in key)


def _script_rule(key: str, language: str) -> str | None:
    """Kinds recognised by rule rather than by list (affixed or compounded forms)."""
    if language == "en" and key.endswith("n't"):
        return "negation"
    if language == "zh":
        if any(ch in _ZH_NEGATION_CHARS for ch in key):
            return "negation"
        if all(ch in _ZH_NUMERALS for ch in key):
            return "number"
    if language == "th":
        if "ไม่" in key:
            return "negation"
        if _TH_NUMBER.match(key):
            return "number"
    return None


def _lookup(key: str, language: str) -> str | None:
    table = _table(language)
    for kind in KINDS:
        if key in table[kind]:
            return kind
    return None


def protected_kind(word: str, language: str) -> str | None:
    """Why `word` is protected ("negation", "quantifier", "number", "stopword"), or None.

    Negation wins over the other kinds, so a word in two lists reports the riskier reason.
    """
    key = normalize(word, language)
    if not key:
        return None
    if _has_digit(key):
        return "number"
    kind = _script_rule(key, language) or _lookup(key, language)
    if kind:
        return kind
    return _part_kind(key, language)


def _part_kind(key: str, language: str) -> str | None:
    """Elided or compounded tokens: fr "n'est", en "twenty-one", ar "ولا" (and-not)."""
    parts = [p for p in _INNER_SPLIT.split(key) if p]
    if len(parts) > 1:
        for part in parts:
            kind = _lookup(part, language)
            if kind in ("negation", "quantifier", "number"):
                return kind
    if language == "ar" and len(key) > 2 and key.startswith(_AR_PREFIXES):
        kind = _lookup(key[1:], language)
        if kind in ("negation", "quantifier", "number"):
            return kind
    return None


def has_lists(language: str) -> bool:
    """True if `language` has negation, quantifier, number and stopword lists here (the 15 XNLI ones)."""
    return language in _LISTS


def is_protected(word: str, language: str) -> bool:
    """True if a label-preserving perturbation must leave `word` unchanged."""
    return protected_kind(word, language) is not None
