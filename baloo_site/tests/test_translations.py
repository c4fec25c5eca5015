"""Every page and message is translated: English plus complete German, French and Spanish."""

import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

LOCALE = Path(settings.BASE_DIR) / "locale"
TRANSLATED = [code for code, _name in settings.LANGUAGES if code != "en"]


def entries(po: Path) -> list[dict[str, str]]:
    """The entries of a .po file: msgid, msgid_plural, msgstr… joined, and flags."""
    found, current, field = [], None, None
    for line in po.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if current and "msgid" in current:
                found.append(current)
            current, field = None, None
            continue
        current = current if current is not None else {"flags": ""}
        if line.startswith("#,"):
            current["flags"] += line
        elif line.startswith("#"):
            continue
        elif match := re.match(r'^(msgid_plural|msgid|msgstr(?:\[\d\])?) "(.*)"$', line):
            field = match[1]
            current[field] = match[2]
        elif line.startswith('"') and field:
            current[field] += line[1:-1]
    return found


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(code):
    catalogue = entries(LOCALE / code / "LC_MESSAGES" / "django.po")
    messages = [e for e in catalogue if e["msgid"]]
    assert len(messages) > 500
    untranslated = [e["msgid"] for e in messages if not all(v for k, v in e.items() if k.startswith("msgstr"))]
    fuzzy = [e["msgid"] for e in messages if "fuzzy" in e["flags"]]
    assert untranslated == [] and fuzzy == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_compiled_catalogue_matches_the_source(code):
    """The .mo files are committed (a fresh machine may lack msgfmt): they must not lag behind."""
    folder = LOCALE / code / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as compiled_file:
        compiled = gettext.GNUTranslations(compiled_file)
    plain = [
        e
        for e in entries(folder / "django.po")
        if e["msgid"] and "msgid_plural" not in e and "\\" not in e["msgid"] + e["msgstr"]
    ]
    assert plain
    assert [compiled.gettext(e["msgid"]) for e in plain] == [e["msgstr"] for e in plain]


def test_pages_speak_the_language_asked_for():
    with translation.override("de"):
        assert _("Language") == "Sprache"
    with translation.override("fr"):
        assert _("Language") != "Language"
    with translation.override("es"):
        assert _("Language") != "Language"
