"""E-mail addresses as text: when a value is one, and the one form every look-alike of it shares.

The rule of CONTRACTS §1 (exactly one `@`, no whitespace, whether or not it receives mail) and the
normalising that identity keys, record checks and sign-in all share. What makes two accounts the
same account is `activities.keys`; this module only reads text, so every app can use it.
"""

import re
import unicodedata

# Shown as nothing either, though not format characters: Unicode's other default-ignorable code
# points (variation selectors, the combining grapheme joiner, Hangul and Mongolian fillers).
INVISIBLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]")


def email_normalise(value: str) -> str:
    """An e-mail as written, trimmed, in the one form that every look-alike of it shares: NFKC
    (full-width `ａｎｎ＠ｅｘａｍｐｌｅ．ｏｒｇ` is `ann@example.org`) without format characters
    (zero-width spaces and joiners, bidi controls) or other invisible characters (`INVISIBLE`),
    which show nothing and would otherwise make a second identity of the same address. Not yet
    lower-cased (`email_lowercase` does that). Plain ASCII, nearly every address, has nothing to
    normalise and is only trimmed."""
    value = value.strip()
    if value.isascii():
        return value
    value = unicodedata.normalize("NFKC", value)
    value = "".join(char for char in value if unicodedata.category(char) != "Cf")
    return INVISIBLE.sub("", value).strip()


def email_lowercase(value: str) -> str:
    """An e-mail in lower case, letter by letter, so that addresses compare case-insensitively
    without one letter ever becoming others.

    Not `str.casefold()`: it turns `ß` into `ss` and `ς` into `σ`, so `anna.gross@straße.example`
    would be `anna.gross@strasse.example`, though IDNA2008 makes those two domains (and a mail
    server may make `groß@` and `gross@` two mailboxes), and whoever owns one would open the other's
    record. `Σ` is always `σ`, as IDNA maps it in a domain: `str.lower()` alone makes it `ς` at the end
    of a word, so one address would have two keys depending on how it was capitalised. Plain ASCII,
    nearly every address, is simply `str.lower()`, as it always was.
    """
    if value.isascii():
        return value.lower()
    return value.replace("Σ", "σ").lower()


def is_email(value: str) -> bool:
    """An identity key is an e-mail when it has exactly one `@` and no whitespace (it need not
    receive mail), once normalised (`email_normalise`: a full-width `＠` is an `@`, and an address
    of nothing but invisible characters is empty)."""
    if not value.isascii():
        value = email_normalise(value)
    # split() cuts at whitespace as str.isspace() defines it (what the pattern \s matches).
    return value.count("@") == 1 and value.split() == [value]
