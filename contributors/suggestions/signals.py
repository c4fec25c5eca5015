"""What suggests that two persons are one human: their names and handles, reduced to blocking keys.

Pure functions, no database. Persons are compared only within a block — the persons sharing one
normalised key — never all against all, so finding suggestions stays linear in the number of
identities. A key shared by more than `MAX_PERSONS_PER_KEY` persons says nothing ("David Smith",
`david@…`) and is dropped. Within a block, a pair is then classified: which signal, how strong.
"""

import re
import unicodedata
from dataclasses import dataclass

from activities.keys import GITHUB_NOREPLY

# Names that say nothing about who someone is.
GENERIC_NAMES = {
    "root",
    "admin",
    "administrator",
    "unknown",
    "none",
    "anonymous",
    "john doe",
    "jane doe",
    "your name",
    "test user",
    "firstname lastname",
    "first last",
    "github action",
    "github actions",
    "mozilla bot",
    "ubuntu user",
    "local user",
}
# Local parts of addresses and user names that many people use and that say nothing about who
# wrote them (`info@`, `root@`, `dev@`): never a signal, whatever the domain.
GENERIC_HANDLES = {
    "admin",
    "administrator",
    "anonymous",
    "bot",
    "contact",
    "dev",
    "developer",
    "devnull",
    "email",
    "github",
    "git",
    "guest",
    "hello",
    "info",
    "localhost",
    "mail",
    "me",
    "myemail",
    "name",
    "nobody",
    "noreply",
    "none",
    "null",
    "office",
    "pi",
    "root",
    "support",
    "team",
    "test",
    "ubuntu",
    "unknown",
    "user",
    "username",
    "vagrant",
    "webmaster",
    "you",
    "yourname",
}
# A key shared by more persons than this is too common to suggest anything ("David Smith").
MAX_PERSONS_PER_KEY = 5
# One human often writes the same name on several addresses: a key shared by more than this many
# persons still suggests, more weakly (in a small community, one human's five addresses; in a large
# one, five people with one name).
CROWDED = 3
CROWD_PENALTY = 0.15
# Handles shorter than this (`ab@…`, a user name `jo`) are too easily someone else's.
MIN_HANDLE = 4
# A handle made from a name (`rgommers` from "Ralf Gommers") must be longer still.
MIN_NAME_HANDLE = 5

# Letters that Unicode does not decompose into a base letter and an accent.
FOLDED = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ß": "ss", "æ": "ae", "œ": "oe", "þ": "th", "ı": "i"})
# How German and the Nordic languages write their letters in ASCII: "Müller" is "Mueller".
TRANSLITERATED = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ø": "oe", "å": "aa"})
SEPARATORS = re.compile(r"[._\-+]+")
TRAILING_DIGITS = re.compile(r"\d+$")


def normalise_name(name: str) -> str:
    """Accents and case folded, punctuation dropped, spaces collapsed: "José  García" → "jose garcia"."""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.casefold().split())


def is_suggestible_name(normalised: str) -> bool:
    return len(normalised.split()) >= 2 and normalised not in GENERIC_NAMES


def name_variants(name: str) -> list[tuple[str, ...]]:
    """The ways a name may be written in plain letters, as word tuples, first the plain one:
    accents dropped ("José" → "jose"), letters folded ("Søren" → "soren") and transliterated
    ("Müller" → "mueller"), a family name written first with a comma turned round
    ("Example, Ann" → "ann example"). Empty for a single word or a generic name."""
    if name.count(",") == 1:
        family, given = name.split(",")
        if given.strip() and family.strip():
            name = f"{given} {family}"
    lowered = unicodedata.normalize("NFC", name.casefold())
    variants: list[tuple[str, ...]] = []
    for spelled in (lowered, lowered.translate(TRANSLITERATED)):
        words = tuple(normalise_name(spelled).translate(FOLDED).split())
        if len(words) >= 2 and " ".join(words) not in GENERIC_NAMES and words not in variants:
            variants.append(words)
    return variants


def one_word_name(name: str) -> str:
    """A name written as one word ("SabrinaSimao", "gfyoung"), compacted as a handle; else ""."""
    words = normalise_name(name).translate(FOLDED).split()
    if len(words) == 1 and len(words[0]) >= MIN_NAME_HANDLE and words[0] not in GENERIC_HANDLES:
        return words[0]
    return ""


def compact(handle: str) -> str:
    """A handle without case, accents or separators: `Ralf.Gommers` and `ralf_gommers` are `ralfgommers`."""
    return SEPARATORS.sub("", normalise_name(handle).replace(" ", "").translate(FOLDED))


def name_keys(words: tuple[str, ...]) -> list[tuple[str, str]]:
    """Blocking keys of one written name: the words in order and sorted (another order), and the
    first initial with the last word (initials: "A. Example", "Ann B. Example")."""
    return [("name", " ".join(words)), ("order", " ".join(sorted(words))), ("initial", f"{words[0][0]} {words[-1]}")]


def name_handles(words: tuple[str, ...]) -> set[str]:
    """The handles people make of their names: `annexample`, `aexample`, `anne`, `exampleann`, `examplea`."""
    first, last = words[0], words[-1]
    handles = {"".join(words), first + last, first[0] + last, first + last[0], last + first, last + first[0]}
    return {handle for handle in handles if len(handle) >= MIN_NAME_HANDLE and handle not in GENERIC_HANDLES}


def address_handles(email: str) -> tuple[str, set[str], set[str]]:
    """The GitHub login a noreply address names; the handles of any other address: its local part
    without a `+tag`, compacted, and again without trailing digits (`gfyoung17`); and, when the
    local part is words (`magdalena.proszewska`), the handles made of them as of a name (`mproszewska`)."""
    match = GITHUB_NOREPLY.match(email)
    if match:
        return compact(match["login"]), set(), set()
    local = email.rsplit("@", 1)[0].split("+", 1)[0]
    handles = set()
    for handle in (compact(local), TRAILING_DIGITS.sub("", compact(local))):
        if len(handle) >= MIN_HANDLE and handle not in GENERIC_HANDLES and not handle.isdigit():
            handles.add(handle)
    words = tuple(word for word in SEPARATORS.split(TRAILING_DIGITS.sub("", compact_words(local))) if word)
    named = name_handles(words) - handles if len(words) >= 2 and all(word.isalpha() for word in words) else set()
    return "", handles, named


def compact_words(handle: str) -> str:
    """A handle without case or accents, separators kept: `Magdalena.Proszewska` is `magdalena.proszewska`."""
    decomposed = unicodedata.normalize("NFKD", handle.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(FOLDED)


@dataclass(frozen=True, slots=True)
class Signal:
    """One reason to think two persons are one human, and how strongly (0–1)."""

    family: str  # "name" or "handle": signals of one family overlap, so only the strongest counts
    score: float
    reason: str


def name_signal(names_a: set[str], names_b: set[str]) -> Signal | None:
    """The strongest likeness between two persons' names, if any."""
    best: Signal | None = None
    for name_a in names_a:
        for name_b in names_b:
            signal = _names_alike(name_a, name_b)
            if signal and (best is None or signal.score > best.score):
                best = signal
    return best


NAME_SCORE = 0.7
TRANSLITERATED_SCORE = 0.65
ORDER_SCORE = 0.6
INITIALS_SCORE = 0.5


def _names_alike(name_a: str, name_b: str) -> Signal | None:
    plain_a, plain_b = normalise_name(name_a), normalise_name(name_b)
    if plain_a == plain_b:
        if is_suggestible_name(plain_a):
            return Signal("name", NAME_SCORE, f"the same full name “{plain_a}”")
        return None
    variants_a, variants_b = name_variants(name_a), name_variants(name_b)
    if set(variants_a) & set(variants_b):
        if variants_a[0] == variants_b[0] and ("," in name_a) != ("," in name_b):
            return Signal("name", ORDER_SCORE, f"the same name, family name first: “{name_a}” and “{name_b}”")
        return Signal("name", TRANSLITERATED_SCORE, f"the same name with accents or transliterated: “{name_a}” and “{name_b}”")
    if {tuple(sorted(v)) for v in variants_a} & {tuple(sorted(v)) for v in variants_b}:
        return Signal("name", ORDER_SCORE, f"the same name in another order: “{name_a}” and “{name_b}”")
    for words_a in variants_a:
        for words_b in variants_b:
            if _initials_compatible(words_a, words_b):
                return Signal("name", INITIALS_SCORE, f"the same name with initials: “{name_a}” and “{name_b}”")
    return None


def _initials_compatible(words_a: tuple[str, ...], words_b: tuple[str, ...]) -> bool:
    """"A. Example" and "Ann Example", "Ann B. Example" and "Ann Example": the same last word, first
    words that are one the initial (or the start) of the other, and middle words that do not clash."""
    if words_a[-1] != words_b[-1] or len(words_a[-1]) < 2 or words_a == words_b:
        return False
    first_a, first_b = words_a[0], words_b[0]
    if not (first_a.startswith(first_b) or first_b.startswith(first_a)):
        return False
    if first_a != first_b and min(len(first_a), len(first_b)) > 1:
        return False  # "Ann" and "Anna": two names, not an initial
    shorter, longer = sorted((words_a[1:-1], words_b[1:-1]), key=len)
    return all(any(a.startswith(b) or b.startswith(a) for b in longer) for a in shorter)


LOGIN_AND_ADDRESS_SCORE = 0.65
SAME_HANDLE_SCORE = 0.6
NAME_AS_HANDLE_SCORE = 0.5
ONE_WORD_NAME_SCORE = 0.4

# What a handle was made from, and how much two origins sharing one handle say: an address's local
# part, a login, a name of several words (`annexample`, `aexample`…), a one-word name, the words of
# an address's local part made into a handle as a name's are (`ann.example@` → `aexample`).
ADDRESS, LOGIN, NAME, WORD, ADDRESS_WORDS = "address", "login", "name", "word", "address words"
HANDLE_PAIRS = {
    frozenset((WORD,)): (ONE_WORD_NAME_SCORE, "the same one-word name: “{}”"),
    frozenset((ADDRESS_WORDS, LOGIN)): (NAME_AS_HANDLE_SCORE, "a login made of the words of an address: “{}”"),
    frozenset((ADDRESS_WORDS, ADDRESS)): (NAME_AS_HANDLE_SCORE, "two addresses made of the same words: “{}”"),
    frozenset((ADDRESS_WORDS, WORD)): (NAME_AS_HANDLE_SCORE, "a name made of the words of an address: “{}”"),
    frozenset((LOGIN, ADDRESS)): (LOGIN_AND_ADDRESS_SCORE, "a login and the name of an address: “{}”"),
    frozenset((ADDRESS,)): (SAME_HANDLE_SCORE, "the same address name at different domains: “{}”"),
    frozenset((LOGIN,)): (SAME_HANDLE_SCORE, "the same user name in different systems: “{}”"),
    frozenset((NAME, ADDRESS)): (NAME_AS_HANDLE_SCORE, "a name written as the name of an address: “{}”"),
    frozenset((NAME, LOGIN)): (NAME_AS_HANDLE_SCORE, "a name written as a login: “{}”"),
    frozenset((WORD, ADDRESS)): (NAME_AS_HANDLE_SCORE, "a name written as the name of an address: “{}”"),
    frozenset((WORD, LOGIN)): (NAME_AS_HANDLE_SCORE, "a name written as a login: “{}”"),
    frozenset((WORD, NAME)): (NAME_AS_HANDLE_SCORE, "the same name written as one word: “{}”"),
}


def handle_signal(handle: str, origins_a: set[str], origins_b: set[str]) -> Signal | None:
    """What two persons sharing a handle, made from these origins on each side, says."""
    best: Signal | None = None
    for origin_a in origins_a:
        for origin_b in origins_b:
            found = HANDLE_PAIRS.get(frozenset((origin_a, origin_b)))
            if found and (best is None or found[0] > best.score):
                best = Signal("handle", found[0], found[1].format(handle))
    return best


def signals_combined(signals: list[Signal]) -> tuple[float, str]:
    """The score and reason of a pair: the strongest signal of each family, combined as independent
    evidence (1 − Π(1 − s)), never above 0.95: a suggestion is never a certainty."""
    best: dict[str, Signal] = {}
    for signal in signals:
        if signal.family not in best or signal.score > best[signal.family].score:
            best[signal.family] = signal
    chosen = sorted(best.values(), key=lambda s: -s.score)
    doubt = 1.0
    for signal in chosen:
        doubt *= 1 - signal.score
    reason = "; ".join(signal.reason for signal in chosen)
    return round(min(0.95, 1 - doubt), 2), reason[0].upper() + reason[1:]
