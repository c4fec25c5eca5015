"""An invented demo community: the configuration and the activity records `seed_demo` loads.

Nothing here touches the database: the same end date, size and seed always give the same
community, record for record. Every name and address is invented (example.org, example.com,
example.net, and the staff domain mozilla.example); no real person's data is used.

The community has the shape real ones have: most people contribute once or twice, a few every
week for years; people work in several areas and systems; some show up with two e-mail addresses
that a commit links through their GitHub login; some are staff; one volunteer is hired half-way
(their volunteer weeks stay volunteer weeks); two bots open pull requests.
"""

import math
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

DEMO_SEED = 2014  # the year Project Baloo started
DEMO_PEOPLE = 2000
DEMO_YEARS = 3
STAFF_DOMAIN = "mozilla.example"

GITHUB = "github-mozilla"
BUGZILLA = "bugzilla-mozilla"
SUMO = "sumo"

# Where each area's work happens. Container filters in the configuration below match these.
REPOS = {
    "coding-firefox": ["mozilla-mobile/firefox-ios", "mozilla-mobile/firefox-android"],
    "localization": ["mozilla-l10n/firefox-l10n", "mozilla-l10n/android-l10n"],
    "add-ons": ["mozilla/addons-server", "mozilla/addons-frontend", "mozilla/addons-linter"],
    "documentation": ["mdn/content", "mdn/browser-compat-data"],
}
COMPONENTS = {
    "coding-firefox": [
        "Core::DOM: Events",
        "Core::Layout",
        "Core::Networking",
        "Core::JavaScript Engine",
        "Core::Graphics",
        "Firefox::General",
        "Firefox::Address Bar",
        "Firefox::Tabbed Browser",
        "Firefox::Session Restore",
    ],
    "qa": ["Firefox::General", "Core::General", "DevTools::Console", "Toolkit::Downloads", "Testing::mozregression"],
    "add-ons": ["WebExtensions::General", "WebExtensions::Storage", "WebExtensions::Request Handling"],
}
SUMO_PRODUCTS = ["firefox", "firefox", "firefox", "mobile", "ios", "thunderbird", "thunderbird"]
# Forum questions are mostly in English; help articles are translated into many locales.
SUMO_FORUM_LOCALES = ["en-US"] * 6 + ["de", "fr", "es", "it", "ja", "pl"]
SUMO_KB_LOCALES = ["de", "fr", "es", "it", "ja", "pl", "nl", "ru", "cs", "hu", "id"]

FIRST_NAMES = (
    "Ana Aiko Amara Anaïs Andrés Ángela Anja Arjun Astrid Aylin Beatriz Björn Bongani Carmen Chiara Chloé "
    "Chidi Dagný Daniel Dmitri Élodie Emeka Emilia Eşref Farah Felipe Fatima Femi Francesca Gabriel Giulia "
    "Gökhan Hana Hiroshi Ines Ingrid Ivana Jakub Jana Jérôme João Jonas Jorge Kai Kamala Kenji Kofi Laila "
    "Lars Léa Liang Lucía Łukasz Maja Malik Manon Marek Mariana María Mateo Mei Mikael Minh Miriam Nadia "
    "Naledi Nikolai Noémie Olek Oluwaseun Pablo Paulina Pedro Priya Rafael Ravi Renée Rosa Rui Saanvi "
    "Salomé Samir Sanna Santiago Sara Sebastián Siddharth Sigrún Sione Søren Sun-hee Tariq Thandiwe Théo "
    "Tomás Uriel Valentina Vikram Wanjiru Xavier Ximena Yara Yasmin Yohannes Yuki Zainab Zoë Zofia"
).split()
LAST_NAMES = (
    "Abara Acosta Adeyemi Alvarez Andersson Arslan Asante Bauer Becker Bianchi Brandão Castillo Çelik Chen "
    "Costa Da Silva Dąbrowski Delacroix Dubois Duarte Eriksen Esposito Fernández Fischer Fontaine García "
    "Gonçalves Gruber Haddad Hansen Herrera Hoang Horváth Ibáñez Ivanova Jansen Jiménez Kaur Kawasaki "
    "Kovačević Kowalski Kumar Larsen Lefèvre Lindqvist López Mahlangu Martín Moreau Müller Nakamura Ndlovu "
    "Nguyễn Novák Núñez Okafor Olsen Ortega Osei Park Pereira Petrović Popescu Quispe Ramírez Rao Reyes "
    "Rossi Šimić Santos Sato Schmidt Silva Sokolova Suárez Tanaka Thérien Torres Tremblay Van Dijk Varga "
    "Vásquez Wagner Wang Weiß Yamamoto Yılmaz Zhang Zieliński"
).split()
EMAIL_DOMAINS = ["example.org", "example.com", "example.net"]
BOTS = [("dependabot[bot]", "4969933"), ("renovate[bot]", "2936521")]


@dataclass(frozen=True)
class Tier:
    """How engaged a person is: how many occasions they contribute on, and over how long."""

    name: str
    share: float
    occasions: tuple[float, float]  # log-normal median and spread
    span_days: tuple[int, int]


# Most people contribute once or twice; a few every week. The occasions are log-normal within a
# tier and the tiers themselves fall off steeply, which gives the long tail real communities show.
TIERS = (
    Tier("once", 0.62, (1.3, 0.35), (0, 10)),
    Tier("occasional", 0.22, (6, 0.5), (30, 240)),
    Tier("regular", 0.11, (35, 0.6), (120, 720)),
    Tier("core", 0.05, (3.5, 0.5), (400, 1500)),  # core: occasions per week, not in total
)
STAFF_SHARE = {"once": 0.0, "occasional": 0.01, "regular": 0.08, "core": 0.3}
AREA_WEIGHTS = {
    "support": 30,
    "qa": 20,
    "coding-firefox": 17,
    "localization": 13,
    "documentation": 10,
    "add-ons": 10,
}


def demo_end_date(today: date) -> date:
    """The most recent Sunday strictly before `today`: the end of the last complete week."""
    return today - timedelta(days=(today.weekday() + 1) % 7 or 7)


def _text(en: str, de: str, fr: str, es: str) -> dict[str, str]:
    return {"en": en, "de": de, "fr": fr, "es": es}


def _cp(slug: str, source: str, types: list[str], container: str, level: str, name: dict, recognition: dict) -> dict:
    return {
        "slug": slug,
        "source": source,
        "types": types,
        "container": container,
        "level": level,
        "name": name,
        "recognition": recognition,
    }


def demo_config() -> dict:
    """The demo's sources, areas and conversion points, in the configuration-as-code format."""
    # Demo sources are never synced (schedule 0): their data is invented and must not mix with real data.
    sources = [
        {
            "slug": GITHUB,
            "kind": "github",
            "name": "GitHub",
            "base_url": "https://api.github.com",
            "options": {"repos": [repo for repos in REPOS.values() for repo in repos]},
            "token_env": "BALOO_TOKEN_GITHUB",
            "schedule_minutes": 0,
        },
        {
            "slug": BUGZILLA,
            "kind": "bugzilla",
            "name": "Bugzilla",
            "base_url": "https://bugzilla.mozilla.org/rest",
            "options": {"products": ["Core", "Firefox", "DevTools", "Toolkit", "Testing", "WebExtensions"]},
            "token_env": "BALOO_TOKEN_BUGZILLA",
            "schedule_minutes": 0,
        },
        {
            "slug": SUMO,
            "kind": "sumo",
            "name": "SUMO",
            "base_url": "https://support.mozilla.org/api/2",
            "options": {"products": sorted(set(SUMO_PRODUCTS))},
            "schedule_minutes": 0,
        },
    ]
    areas = [
        {
            "slug": "support",
            "name": _text("Support", "Hilfe für Nutzer", "Assistance", "Soporte"),
            "description": _text(
                "Helping people with Firefox and Thunderbird on the support forums and in help articles.",
                "Menschen in den Foren und mit Hilfeartikeln bei Firefox und Thunderbird weiterhelfen.",
                "Aider les utilisateurs de Firefox et Thunderbird sur les forums et dans les articles d’aide.",
                "Ayudar a quienes usan Firefox y Thunderbird en los foros y con artículos de ayuda.",
            ),
            "target": 220,
            "next_step_url": "https://support.mozilla.org/get-involved",
            "conversion_points": [
                _cp(
                    "support-answer",
                    SUMO,
                    ["sumo.answer.posted"],
                    "*",
                    "casual",
                    _text(
                        "Answered a question",
                        "Eine Frage beantwortet",
                        "A répondu à une question",
                        "Respondió una pregunta",
                    ),
                    _text(
                        "Thank you for helping someone out!",
                        "Danke, dass du jemandem weitergeholfen hast!",
                        "Merci d’avoir dépanné quelqu’un !",
                        "¡Gracias por echar una mano!",
                    ),
                ),
                _cp(
                    "support-solution",
                    SUMO,
                    ["sumo.answer.solution"],
                    "*",
                    "active",
                    _text("Solved a problem", "Ein Problem gelöst", "A résolu un problème", "Resolvió un problema"),
                    _text(
                        "Your answer solved someone's problem.",
                        "Deine Antwort hat ein Problem gelöst.",
                        "Votre réponse a résolu le problème de quelqu’un.",
                        "Tu respuesta resolvió el problema de alguien.",
                    ),
                ),
                _cp(
                    "support-article",
                    SUMO,
                    ["sumo.revision.created"],
                    "*/en-US",
                    "core",
                    _text(
                        "Improved a help article",
                        "Einen Hilfeartikel verbessert",
                        "A amélioré un article d’aide",
                        "Mejoró un artículo de ayuda",
                    ),
                    _text(
                        "Thousands of people will read what you wrote.",
                        "Tausende werden lesen, was du geschrieben hast.",
                        "Des milliers de personnes liront ce que vous avez écrit.",
                        "Miles de personas leerán lo que escribiste.",
                    ),
                ),
            ],
        },
        {
            "slug": "coding-firefox",
            "name": _text("Coding Firefox", "Firefox programmieren", "Coder Firefox", "Programar Firefox"),
            "description": _text(
                "Writing and reviewing the code of Firefox on desktop and mobile.",
                "Code für Firefox auf Desktop und Mobilgeräten schreiben und prüfen.",
                "Écrire et relire le code de Firefox sur ordinateur et mobile.",
                "Escribir y revisar el código de Firefox en escritorio y móvil.",
            ),
            "target": 150,
            "next_step_url": "https://firefox-source-docs.mozilla.org/contributing/",
            "conversion_points": [
                _cp(
                    "coding-discussion",
                    GITHUB,
                    ["github.issue.opened", "github.comment.created"],
                    "mozilla-mobile/*",
                    "casual",
                    _text(
                        "Joined a code discussion",
                        "An einer Code-Diskussion teilgenommen",
                        "A participé à une discussion sur le code",
                        "Participó en una discusión de código",
                    ),
                    _text(
                        "Good questions make good code.",
                        "Gute Fragen machen guten Code.",
                        "Les bonnes questions font le bon code.",
                        "Las buenas preguntas hacen buen código.",
                    ),
                ),
                _cp(
                    "coding-pull-request",
                    GITHUB,
                    ["github.pull_request.opened", "github.commit.authored"],
                    "mozilla-mobile/*",
                    "active",
                    _text(
                        "Proposed a code change",
                        "Eine Code-Änderung vorgeschlagen",
                        "A proposé une modification du code",
                        "Propuso un cambio de código",
                    ),
                    _text(
                        "Your code is on its way into Firefox.",
                        "Dein Code ist auf dem Weg in Firefox.",
                        "Votre code est en route vers Firefox.",
                        "Tu código va camino de Firefox.",
                    ),
                ),
                _cp(
                    "coding-patch-core",
                    BUGZILLA,
                    ["bugzilla.attachment.created"],
                    "Core::*",
                    "active",
                    _text(
                        "Attached a patch to a Core bug",
                        "Einen Patch an einen Core-Fehler angehängt",
                        "A joint un correctif à un bogue Core",
                        "Adjuntó un parche a un error de Core",
                    ),
                    _text(
                        "Patches like yours keep the engine running.",
                        "Patches wie deiner halten die Engine am Laufen.",
                        "Des correctifs comme le vôtre font tourner le moteur.",
                        "Parches como el tuyo mantienen el motor en marcha.",
                    ),
                ),
                _cp(
                    "coding-patch-firefox",
                    BUGZILLA,
                    ["bugzilla.attachment.created"],
                    "Firefox::*",
                    "active",
                    _text(
                        "Attached a patch to a Firefox bug",
                        "Einen Patch an einen Firefox-Fehler angehängt",
                        "A joint un correctif à un bogue Firefox",
                        "Adjuntó un parche a un error de Firefox",
                    ),
                    _text(
                        "Thank you for making Firefox better.",
                        "Danke, dass du Firefox besser machst.",
                        "Merci de rendre Firefox meilleur.",
                        "Gracias por mejorar Firefox.",
                    ),
                ),
                _cp(
                    "coding-landed",
                    GITHUB,
                    ["github.pull_request.merged", "github.review.submitted"],
                    "mozilla-mobile/*",
                    "core",
                    _text(
                        "Landed or reviewed code",
                        "Code eingebracht oder geprüft",
                        "A intégré ou relu du code",
                        "Integró o revisó código",
                    ),
                    _text(
                        "Your work ships to millions of people.",
                        "Deine Arbeit erreicht Millionen Menschen.",
                        "Votre travail est livré à des millions de personnes.",
                        "Tu trabajo llega a millones de personas.",
                    ),
                ),
                _cp(
                    "coding-bug-fixed",
                    BUGZILLA,
                    ["bugzilla.bug.fixed"],
                    "Core::*",
                    "core",
                    _text("Fixed a bug", "Einen Fehler behoben", "A corrigé un bogue", "Corrigió un error"),
                    _text(
                        "One bug fewer, thanks to you.",
                        "Ein Fehler weniger, dank dir.",
                        "Un bogue de moins, grâce à vous.",
                        "Un error menos, gracias a ti.",
                    ),
                ),
            ],
        },
        {
            "slug": "localization",
            "name": _text("Localization", "Lokalisierung", "Localisation", "Localización"),
            "description": _text(
                "Bringing Firefox and its help articles to people in their own language.",
                "Firefox und seine Hilfeartikel in die Sprache der Menschen bringen.",
                "Offrir Firefox et ses articles d’aide dans la langue de chacun.",
                "Llevar Firefox y sus artículos de ayuda a cada persona en su idioma.",
            ),
            "target": 150,
            "next_step_url": "https://pontoon.mozilla.org/",
            "conversion_points": [
                _cp(
                    "l10n-feedback",
                    GITHUB,
                    ["github.issue.opened", "github.comment.created"],
                    "mozilla-l10n/*",
                    "casual",
                    _text(
                        "Reported a translation problem",
                        "Ein Übersetzungsproblem gemeldet",
                        "A signalé un problème de traduction",
                        "Informó de un problema de traducción",
                    ),
                    _text(
                        "Thanks for keeping an eye on the words.",
                        "Danke für deinen Blick auf die Worte.",
                        "Merci de veiller sur les mots.",
                        "Gracias por cuidar las palabras.",
                    ),
                ),
                _cp(
                    "l10n-translation",
                    GITHUB,
                    ["github.commit.authored"],
                    "mozilla-l10n/*",
                    "active",
                    _text("Translated Firefox", "Firefox übersetzt", "A traduit Firefox", "Tradujo Firefox"),
                    _text(
                        "Firefox speaks your language because of you.",
                        "Dank dir spricht Firefox deine Sprache.",
                        "Grâce à vous, Firefox parle votre langue.",
                        "Gracias a ti, Firefox habla tu idioma.",
                    ),
                ),
                _cp(
                    "l10n-help-article",
                    SUMO,
                    ["sumo.revision.created"],
                    "*/??",
                    "active",
                    _text(
                        "Translated a help article",
                        "Einen Hilfeartikel übersetzt",
                        "A traduit un article d’aide",
                        "Tradujo un artículo de ayuda",
                    ),
                    _text(
                        "Now more people can find help in their language.",
                        "Jetzt finden mehr Menschen Hilfe in ihrer Sprache.",
                        "Davantage de gens trouvent de l’aide dans leur langue.",
                        "Ahora más gente encuentra ayuda en su idioma.",
                    ),
                ),
                _cp(
                    "l10n-review",
                    GITHUB,
                    ["github.review.submitted"],
                    "mozilla-l10n/*",
                    "core",
                    _text(
                        "Reviewed translations",
                        "Übersetzungen geprüft",
                        "A relu des traductions",
                        "Revisó traducciones",
                    ),
                    _text(
                        "Reviewers like you keep every locale consistent.",
                        "Prüfende wie du halten jede Sprache stimmig.",
                        "Grâce à vos relectures, chaque langue reste cohérente.",
                        "Gracias a tus revisiones, cada idioma es coherente.",
                    ),
                ),
            ],
        },
        {
            "slug": "qa",
            "name": _text(
                "QA & Bug triage",
                "Qualitätssicherung und Fehlersichtung",
                "Assurance qualité et tri des bogues",
                "Control de calidad y clasificación de errores",
            ),
            "description": _text(
                "Finding, reproducing and sorting bugs so they reach the right people.",
                "Fehler finden, nachvollziehen und einordnen, damit sie bei den Richtigen landen.",
                "Trouver, reproduire et trier les bogues pour qu’ils arrivent aux bonnes personnes.",
                "Encontrar, reproducir y clasificar errores para que lleguen a quien corresponde.",
            ),
            "target": 300,
            "next_step_url": "https://firefox-source-docs.mozilla.org/bug-mgmt/",
            "conversion_points": [
                _cp(
                    "qa-bug-filed",
                    BUGZILLA,
                    ["bugzilla.bug.filed"],
                    "*",
                    "casual",
                    _text("Filed a bug", "Einen Fehler gemeldet", "A signalé un bogue", "Informó de un error"),
                    _text(
                        "Every good bug report starts a fix.",
                        "Jeder gute Fehlerbericht ist der Anfang einer Lösung.",
                        "Chaque bon rapport de bogue commence une correction.",
                        "Cada buen informe de error empieza una solución.",
                    ),
                ),
                _cp(
                    "qa-triage",
                    BUGZILLA,
                    ["bugzilla.comment.created"],
                    "*",
                    "active",
                    _text("Triaged a bug", "Einen Fehler gesichtet", "A trié un bogue", "Clasificó un error"),
                    _text(
                        "Triage turns noise into work people can act on.",
                        "Sichtung macht aus Rauschen Arbeit, mit der man etwas anfangen kann.",
                        "Le tri transforme le bruit en travail utile.",
                        "Clasificar convierte el ruido en trabajo útil.",
                    ),
                ),
                _cp(
                    "qa-regression-range",
                    BUGZILLA,
                    ["bugzilla.attachment.created"],
                    "Testing::*",
                    "core",
                    _text(
                        "Found a regression range",
                        "Einen Regressionsbereich eingegrenzt",
                        "A trouvé l’intervalle d’une régression",
                        "Encontró el rango de una regresión",
                    ),
                    _text(
                        "Pinpointing a regression saves developers days.",
                        "Eine eingegrenzte Regression spart Entwicklern Tage.",
                        "Cerner une régression fait gagner des jours aux développeurs.",
                        "Acotar una regresión ahorra días a los desarrolladores.",
                    ),
                ),
            ],
        },
        {
            "slug": "add-ons",
            "name": _text("Add-ons", "Add-ons", "Modules complémentaires", "Complementos"),
            "description": _text(
                "Building the add-ons platform and the WebExtensions that make Firefox yours.",
                "Die Add-on-Plattform und die WebExtensions bauen, die Firefox zu deinem machen.",
                "Construire la plateforme de modules et les WebExtensions qui personnalisent Firefox.",
                "Construir la plataforma de complementos y las WebExtensions que hacen tuyo a Firefox.",
            ),
            "target": 80,
            "next_step_url": "https://extensionworkshop.com/",
            "conversion_points": [
                _cp(
                    "addons-discussion",
                    GITHUB,
                    ["github.issue.opened", "github.comment.created"],
                    "mozilla/addons*",
                    "casual",
                    _text(
                        "Joined an add-ons discussion",
                        "An einer Add-on-Diskussion teilgenommen",
                        "A participé à une discussion sur les modules",
                        "Participó en una discusión sobre complementos",
                    ),
                    _text(
                        "Thanks for sharing what you found.",
                        "Danke, dass du deine Erkenntnisse teilst.",
                        "Merci d’avoir partagé votre trouvaille.",
                        "Gracias por compartir lo que encontraste.",
                    ),
                ),
                _cp(
                    "addons-pull-request",
                    GITHUB,
                    ["github.pull_request.opened"],
                    "mozilla/addons*",
                    "active",
                    _text(
                        "Proposed an add-ons change",
                        "Eine Add-on-Änderung vorgeschlagen",
                        "A proposé une modification des modules",
                        "Propuso un cambio en complementos",
                    ),
                    _text(
                        "Your change is in review.",
                        "Deine Änderung wird geprüft.",
                        "Votre modification est en relecture.",
                        "Tu cambio está en revisión.",
                    ),
                ),
                _cp(
                    "addons-webextensions-patch",
                    BUGZILLA,
                    ["bugzilla.attachment.created"],
                    "WebExtensions::*",
                    "active",
                    _text(
                        "Patched WebExtensions",
                        "WebExtensions verbessert",
                        "A corrigé les WebExtensions",
                        "Corrigió WebExtensions",
                    ),
                    _text(
                        "Extension developers everywhere thank you.",
                        "Erweiterungsentwickler überall danken dir.",
                        "Les développeurs d’extensions vous remercient.",
                        "Quienes desarrollan extensiones te lo agradecen.",
                    ),
                ),
                _cp(
                    "addons-landed",
                    GITHUB,
                    ["github.pull_request.merged", "github.review.submitted"],
                    "mozilla/addons*",
                    "core",
                    _text(
                        "Landed or reviewed add-ons code",
                        "Add-on-Code eingebracht oder geprüft",
                        "A intégré ou relu du code des modules",
                        "Integró o revisó código de complementos",
                    ),
                    _text(
                        "You help keep add-ons safe for everyone.",
                        "Du hilfst, Add-ons für alle sicher zu halten.",
                        "Vous aidez à garder les modules sûrs pour tous.",
                        "Ayudas a que los complementos sean seguros para todos.",
                    ),
                ),
            ],
        },
        {
            "slug": "documentation",
            "name": _text("Documentation", "Dokumentation", "Documentation", "Documentación"),
            "description": _text(
                "Writing the web's reference documentation on MDN.",
                "Die Referenzdokumentation des Webs auf MDN schreiben.",
                "Écrire la documentation de référence du Web sur MDN.",
                "Escribir la documentación de referencia de la web en MDN.",
            ),
            "target": 120,
            "next_step_url": "https://developer.mozilla.org/en-US/docs/MDN/Community",
            "conversion_points": [
                _cp(
                    "docs-discussion",
                    GITHUB,
                    ["github.issue.opened", "github.comment.created"],
                    "mdn/*",
                    "casual",
                    _text(
                        "Reported a documentation problem",
                        "Ein Problem in der Dokumentation gemeldet",
                        "A signalé un problème de documentation",
                        "Informó de un problema en la documentación",
                    ),
                    _text(
                        "Thanks for making the docs more accurate.",
                        "Danke, dass du die Doku genauer machst.",
                        "Merci de rendre la documentation plus juste.",
                        "Gracias por hacer la documentación más precisa.",
                    ),
                ),
                _cp(
                    "docs-pull-request",
                    GITHUB,
                    ["github.pull_request.opened", "github.commit.authored"],
                    "mdn/*",
                    "active",
                    _text(
                        "Edited the documentation",
                        "Die Dokumentation bearbeitet",
                        "A modifié la documentation",
                        "Editó la documentación",
                    ),
                    _text(
                        "Millions of developers read MDN every month.",
                        "Millionen Entwickler lesen MDN jeden Monat.",
                        "Des millions de développeurs lisent MDN chaque mois.",
                        "Millones de desarrolladores leen MDN cada mes.",
                    ),
                ),
                _cp(
                    "docs-landed",
                    GITHUB,
                    ["github.pull_request.merged", "github.review.submitted"],
                    "mdn/*",
                    "core",
                    _text(
                        "Landed or reviewed documentation",
                        "Dokumentation eingebracht oder geprüft",
                        "A intégré ou relu de la documentation",
                        "Integró o revisó documentación",
                    ),
                    _text(
                        "You are a steward of the web's manual.",
                        "Du hütest das Handbuch des Webs.",
                        "Vous veillez sur le manuel du Web.",
                        "Cuidas el manual de la web.",
                    ),
                ),
            ],
        },
    ]
    for position, area in enumerate(areas):
        area["position"] = position
        # Each rule points people who followed it one step further, into the area's own guide.
        next_step_url = area.pop("next_step_url")
        for point in area["conversion_points"]:
            point["next_step_url"] = next_step_url
    return {"sources": sources, "areas": areas}


@dataclass
class _Human:
    """One invented person and the accounts they use."""

    name: str
    emails: list[str]
    login: str
    uid: str
    sumo_username: str
    staff: bool
    noreply: bool  # commits with GitHub's private address instead of a real one
    tz_hours: int
    areas: list[str]
    commits: int = field(default=0)

    def commit_email(self) -> str:
        """The address a commit carries: people with two addresses alternate, which links both."""
        if self.noreply:
            return f"{self.uid}+{self.login}@users.noreply.github.com"
        self.commits += 1
        return self.emails[self.commits % len(self.emails)]


class _Community:
    """Generates the records. Not thread-safe; one instance per generation."""

    def __init__(self, *, end: date, people: int, seed: int) -> None:
        self.rng = random.Random(f"{seed}:{end.isoformat()}:{people}")
        self.people = people
        self.end = datetime.combine(end, time(23, 59, 59), tzinfo=UTC)
        self.start = datetime.combine(end - timedelta(days=DEMO_YEARS * 364 - 1), time(0), tzinfo=UTC)
        self.counters: dict[str, int] = {}
        self.taken: set[str] = set()

    # -- identities -------------------------------------------------------------------------

    def _next(self, key: str, first: int = 1000) -> int:
        self.counters[key] = self.counters.get(key, first) + 1
        return self.counters[key]

    def _unique(self, candidate: str) -> str:
        value, number = candidate, 1
        while value.casefold() in self.taken:
            number += 1
            value = f"{candidate}{number}"
        self.taken.add(value.casefold())
        return value

    def _human(self, tier: Tier) -> _Human:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        plain_first, plain_last = _ascii(first), _ascii(last)
        staff = rng.random() < STAFF_SHARE[tier.name]
        personal = self._unique(f"{plain_first}.{plain_last}") + "@" + rng.choice(EMAIL_DOMAINS)
        emails = [personal]
        if staff:
            emails.insert(0, self._unique(f"{plain_first[0]}{plain_last}") + "@" + STAFF_DOMAIN)
        elif rng.random() < {"once": 0.0, "occasional": 0.08, "regular": 0.3, "core": 0.3}[tier.name]:
            emails.append(self._unique(f"{plain_first}{rng.randint(70, 99)}") + "@" + rng.choice(EMAIL_DOMAINS))
        login_style = rng.randrange(4)
        logins = [f"{plain_first}{plain_last[:1]}", f"{plain_first}-{plain_last}", f"{plain_last}{rng.randint(1, 99)}"]
        login = [*logins, f"{plain_first[:3]}dev"][login_style]
        sumo_style = rng.randrange(3)
        sumo_usernames = [
            f"{first}{last[:1]}",
            f"{plain_first}_{rng.randint(1, 999)}",
            f"{plain_last}.{plain_first[:1]}",
        ]
        sumo_username = sumo_usernames[sumo_style]
        primary = _weighted(rng, AREA_WEIGHTS)
        areas = [primary]
        extra = {"once": 0.03, "occasional": 0.15, "regular": 0.45, "core": 0.6}[tier.name]
        while rng.random() < extra and len(areas) < 4:
            other = _weighted(rng, AREA_WEIGHTS)
            if other not in areas:
                areas.append(other)
            extra /= 2
        return _Human(
            name=f"{first} {last}",
            emails=emails,
            login=self._unique(login.lower()),
            uid=self._unique(str(rng.randint(1_000_000, 180_000_000))),
            sumo_username=self._unique(sumo_username),
            staff=staff,
            noreply=not staff and rng.random() < 0.05,
            tz_hours=rng.choice([-8, -5, -3, 0, 1, 1, 2, 3, 5, 8, 9, 10]),
            areas=areas,
        )

    # -- time -------------------------------------------------------------------------------

    def _moments(self, human: _Human, tier: Tier) -> list[datetime]:
        rng = self.rng
        window = (self.end - self.start).days
        if tier.name == "core" and rng.random() < 0.5:
            begin = self.start  # veterans were already there when the window opens
        else:
            # Newcomers arrive a little more often lately: the community grows.
            begin = self.start + timedelta(days=window * rng.random() ** 0.85)
        span = timedelta(days=rng.randint(*tier.span_days))
        finish = min(begin + span, self.end)
        days = max((finish - begin).days, 0)
        median, sigma = tier.occasions
        if tier.name == "core":
            count = max(1, round(rng.lognormvariate(math.log(median), sigma) * (days + 1) / 7))
        else:
            count = max(1, round(rng.lognormvariate(math.log(median), sigma)))
        moments = []
        for index in range(count):
            day = begin if index == 0 else begin + timedelta(days=rng.randint(0, days))
            holidays = (day.month, day.day) >= (12, 22) or (day.month, day.day) <= (1, 2)
            if index and holidays and rng.random() < 0.5:
                continue  # holidays are quiet: half the contributions planned then don't happen
            local_hour = rng.choice((9, 10, 11, 13, 14, 15, 16, 17, 19, 20, 21, 22))
            moment = datetime.combine(day.date(), time(0), tzinfo=UTC) + timedelta(
                hours=(local_hour - human.tz_hours) % 24, seconds=rng.randrange(3600)
            )
            moments.append(min(moment, self.end))
        return moments

    # -- records ----------------------------------------------------------------------------

    def records(self) -> Iterator[dict]:
        rng = self.rng
        shares = [tier.share for tier in TIERS]
        for _ in range(self.people):
            tier = rng.choices(TIERS, weights=shares)[0]
            human = self._human(tier)
            for moment in self._moments(human, tier):
                area = human.areas[0] if rng.random() < 0.7 else rng.choice(human.areas)
                yield from self._occasion(human, tier, area, moment)
        yield from self._hired()
        yield from self._bots()

    def _hired(self) -> Iterator[dict]:
        """A volunteer who codes most weeks and is hired half-way: from then on their commits carry
        a staff address (linked to the old one through their GitHub account), so the staff period
        starts that day and their earlier weeks stay a volunteer's."""
        rng = self.rng
        human = _Human(
            name="Noor Haddad",
            emails=[self._unique("noor.haddad") + "@example.net"],
            login=self._unique("noorh"),
            uid=self._unique(str(rng.randint(1_000_000, 180_000_000))),
            sumo_username="",
            staff=False,
            noreply=False,
            tz_hours=1,
            areas=["coding-firefox"],
        )
        staff_email = self._unique("nhaddad") + "@" + STAFF_DOMAIN
        hired = self.start + (self.end - self.start) / 2
        for week in range((self.end - self.start).days // 7):
            moment = self.start + timedelta(weeks=week, days=rng.randrange(5), hours=9 + rng.randrange(8))
            if moment >= hired and human.emails != [staff_email]:
                human.emails, human.staff = [staff_email], True
            yield from self._github_work(human, rng.choice(REPOS["coding-firefox"]), moment, True)

    def _occasion(self, human: _Human, tier: Tier, area: str, moment: datetime) -> Iterator[dict]:
        rng = self.rng
        seasoned = tier.name in ("regular", "core")
        if area == "support":
            product = rng.choice(SUMO_PRODUCTS)
            roll = rng.random()
            if tier.name == "once" and roll < 0.35:
                container = f"{product}/{rng.choice(SUMO_FORUM_LOCALES)}"
                yield self._sumo(human, "sumo.question.asked", "question", container, moment)
            elif seasoned and roll < 0.12:
                yield self._sumo(human, "sumo.revision.created", "revision", f"{product}/en-US", moment)
            else:
                yield from self._sumo_answer(human, f"{product}/{rng.choice(SUMO_FORUM_LOCALES)}", moment, seasoned)
        elif area == "localization":
            roll = rng.random()
            if roll < 0.4:
                locale = rng.choice(SUMO_KB_LOCALES)
                yield self._sumo(
                    human, "sumo.revision.created", "revision", f"{rng.choice(SUMO_PRODUCTS)}/{locale}", moment
                )
            elif roll < 0.85 or not seasoned:
                repo = rng.choice(REPOS[area])
                if roll < 0.75:
                    yield self._commit(human, repo, moment, "Pontoon: Update translations")
                else:
                    yield self._github(
                        human, rng.choice(["github.issue.opened", "github.comment.created"]), repo, moment
                    )
            else:
                yield self._github(human, "github.review.submitted", rng.choice(REPOS[area]), moment)
        elif area == "qa":
            component = rng.choice(COMPONENTS["qa"] + COMPONENTS["coding-firefox"])
            roll = rng.random()
            if roll < 0.45 or tier.name == "once":
                yield self._bugzilla(human, "bugzilla.bug.filed", "bug", component, moment)
            elif roll < 0.9 or not seasoned:
                yield self._bugzilla(human, "bugzilla.comment.created", "comment", component, moment)
            else:
                yield self._bugzilla(
                    human, "bugzilla.attachment.created", "attachment", "Testing::mozregression", moment
                )
        else:
            # Coding, add-ons and documentation: GitHub, and Bugzilla where the area has components.
            components = COMPONENTS.get(area)
            if components and rng.random() < 0.45:
                yield from self._bugzilla_work(human, rng.choice(components), moment, seasoned)
            else:
                yield from self._github_work(human, rng.choice(REPOS[area]), moment, seasoned)

    def _later(self, moment: datetime, low_hours: int, high_hours: int) -> datetime | None:
        later = moment + timedelta(hours=self.rng.randint(low_hours, high_hours), minutes=self.rng.randrange(60))
        return later if later <= self.end else None

    def _github_work(self, human: _Human, repo: str, moment: datetime, seasoned: bool) -> Iterator[dict]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            kind = rng.choice(["github.issue.opened", "github.comment.created", "github.comment.created"])
            yield self._github(human, kind, repo, moment)
            return
        if seasoned and roll > 0.8:
            yield self._github(human, "github.review.submitted", repo, moment)
            return
        number = self._next(f"number:{repo}")
        title = rng.choice(PR_TITLES)
        for index in range(rng.choice((1, 1, 1, 2, 3))):
            yield self._commit(human, repo, moment - timedelta(minutes=20 * (index + 1)), title)
        yield self._github(human, "github.pull_request.opened", repo, moment, number=number, title=title)
        merged = self._later(moment, 4, 24 * 12)
        if merged and rng.random() < (0.8 if seasoned else 0.55):
            yield self._github(human, "github.pull_request.merged", repo, merged, number=number, title=title)

    def _bugzilla_work(self, human: _Human, component: str, moment: datetime, seasoned: bool) -> Iterator[dict]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.25:
            yield self._bugzilla(human, "bugzilla.bug.filed", "bug", component, moment)
        elif roll < 0.6:
            yield self._bugzilla(human, "bugzilla.comment.created", "comment", component, moment)
        else:
            bug = self._next("bug", 1_800_000)
            yield self._bugzilla(human, "bugzilla.attachment.created", "attachment", component, moment, bug=bug)
            fixed = self._later(moment, 24, 24 * 20)
            if fixed and rng.random() < (0.7 if seasoned else 0.4):
                yield self._bugzilla(human, "bugzilla.bug.fixed", "fixed", component, fixed, bug=bug)

    def _sumo_answer(self, human: _Human, container: str, moment: datetime, seasoned: bool) -> Iterator[dict]:
        question = self._next("question", 1_400_000)
        answer = self._next("answer", 1_600_000)
        yield self._sumo(human, "sumo.answer.posted", "answer", container, moment, object_id=answer, question=question)
        solved = self._later(moment, 2, 24 * 7)
        if solved and self.rng.random() < (0.35 if seasoned else 0.15):
            yield self._sumo(
                human, "sumo.answer.solution", "solution", container, solved, object_id=answer, question=question
            )

    def _github(
        self, human: _Human, kind: str, repo: str, moment: datetime, *, number: int | None = None, title: str = ""
    ) -> dict:
        rng = self.rng
        if number is None:
            # Comments and reviews land on earlier issues and pull requests of the repository.
            if kind == "github.issue.opened":
                number = self._next(f"number:{repo}")
            else:
                number = rng.randint(1001, self.counters.get(f"number:{repo}", 1001) + 1)
        if kind == "github.issue.opened":
            title = title or rng.choice(ISSUE_TITLES)
            external_id, url = f"issue:{repo}:{number}", f"https://github.com/{repo}/issues/{number}"
        elif kind == "github.comment.created":
            comment = self._next("comment", 1_900_000_000)
            external_id, url = (
                f"comment:{repo}:{comment}",
                f"https://github.com/{repo}/issues/{number}#issuecomment-{comment}",
            )
        elif kind == "github.review.submitted":
            review = self._next("review", 2_100_000_000)
            external_id, url = (
                f"review:{repo}:{review}",
                f"https://github.com/{repo}/pull/{number}#pullrequestreview-{review}",
            )
        elif kind == "github.pull_request.merged":
            external_id, url = f"pr-merged:{repo}:{number}", f"https://github.com/{repo}/pull/{number}"
        else:
            external_id, url = f"pr:{repo}:{number}", f"https://github.com/{repo}/pull/{number}"
        actor = {"username": human.login, "uid": human.uid, "name": human.name}
        return _record(GITHUB, external_id, kind, moment, actor, repo, url, title, {"number": number})

    def _commit(self, human: _Human, repo: str, moment: datetime, title: str) -> dict:
        sha = f"{self.rng.getrandbits(160):040x}"
        actor = {"email": human.commit_email(), "username": human.login, "uid": human.uid, "name": human.name}
        url = f"https://github.com/{repo}/commit/{sha}"
        return _record(
            GITHUB, f"commit:{repo}:{sha}", "github.commit.authored", moment, actor, repo, url, title, {"sha": sha}
        )

    def _bugzilla(
        self, human: _Human, kind: str, what: str, component: str, moment: datetime, *, bug: int | None = None
    ) -> dict:
        rng = self.rng
        if bug is None:
            if what == "bug":
                bug = self._next("bug", 1_800_000)
            else:
                bug = rng.randint(1_800_001, self.counters.get("bug", 1_800_001) + 1)
        object_id = bug if what in ("bug", "fixed") else self._next(what, 9_000_000)
        title = rng.choice(BUG_TITLES) if what == "bug" else ""
        # Bugzilla logins are e-mail addresses.
        actor = {"email": human.emails[0], "name": human.name}
        url = f"https://bugzilla.mozilla.org/show_bug.cgi?id={bug}"
        return _record(BUGZILLA, f"{what}:{object_id}", kind, moment, actor, component, url, title, {"bug_id": bug})

    def _sumo(
        self,
        human: _Human,
        kind: str,
        what: str,
        container: str,
        moment: datetime,
        *,
        object_id: int | None = None,
        question: int | None = None,
    ) -> dict:
        product, locale = container.split("/")
        if what == "revision":
            object_id = self._next("revision", 300_000)
            url = f"https://support.mozilla.org/{locale}/kb/revision/{object_id}"
        else:
            if object_id is None:
                object_id = question = self._next("question", 1_400_000)
            url = f"https://support.mozilla.org/{locale}/questions/{question}"
        title = self.rng.choice(SUMO_TITLES) if what in ("question", "revision") else ""
        # Kitsune shows user names and display names, never e-mail addresses.
        actor = {"username": human.sumo_username, "name": human.name}
        data = {"product": product, "locale": locale}
        return _record(SUMO, f"{what}:{object_id}", kind, moment, actor, container, url, title, data)

    def _bots(self) -> Iterator[dict]:
        """Dependency bots open a pull request in every repository most weeks; maintainers merge many."""
        rng = self.rng
        repos = [repo for repos in REPOS.values() for repo in repos]
        weeks = (self.end - self.start).days // 7
        for login, uid in BOTS:
            bot = _Human(login, [], login, uid, "", False, False, 0, [])
            for week in range(weeks):
                for repo in repos:
                    if rng.random() < 0.5:
                        continue
                    moment = self.start + timedelta(weeks=week, hours=rng.randrange(24 * 7))
                    package = rng.choice(PACKAGES)
                    old = f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.0"
                    title = f"Bump {package} from {old} to {rng.randint(10, 12)}.0.{rng.randint(0, 9)}"
                    number = self._next(f"number:{repo}")
                    yield self._github(bot, "github.pull_request.opened", repo, moment, number=number, title=title)


def _record(
    source: str,
    external_id: str,
    kind: str,
    moment: datetime,
    actor: dict,
    container: str,
    url: str,
    title: str,
    data: dict,
) -> dict:
    return {
        "source": source,
        "external_id": external_id,
        "type": kind,
        "occurred_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "actor": actor,
        "container": container,
        "url": url,
        "title": title,
        "data": data,
    }


def _ascii(text: str) -> str:
    """A name as an address or login would spell it: no accents, no spaces."""
    replacements = {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "ı": "i", "đ": "d"}
    text = "".join(replacements.get(character, character) for character in text)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def demo_records(*, end: date, people: int = DEMO_PEOPLE, seed: int = DEMO_SEED) -> Iterator[dict]:
    """Activity records (the common schema) of an invented community of `people` humans plus two bots.

    Three years of activity up to the end of `end` (UTC), never later. Deterministic: the same
    arguments always give the same records in the same order.
    """
    return _Community(end=end, people=people, seed=seed).records()


PR_TITLES = [
    "Fix crash when closing the last tab",
    "Add keyboard shortcut to the tab strip",
    "Improve contrast of the toolbar icons",
    "Update the onboarding strings",
    "Remove unused preference",
    "Handle empty search results",
    "Document the storage.session API",
    "Fix typo in the Array.prototype.at page",
    "Add compat data for CSS nesting",
    "Speed up the add-on validation",
    "Clarify the privacy notice",
    "Refactor the download panel tests",
]
ISSUE_TITLES = [
    "Translation is cut off in the settings page",
    "Example code does not run",
    "Page is out of date",
    "Add-on review queue is slow",
    "Button label is ambiguous",
    "Crash on startup after update",
]
BUG_TITLES = [
    "Scrolling stutters on long pages",
    "Video does not resume after sleep",
    "Address bar suggestions missing after restart",
    "Intermittent failure in the session restore test",
    "Extension popup opens off screen",
    "Memory grows when many tabs are open",
    "Keyboard focus lost after closing a dialog",
]
SUMO_TITLES = [
    "Firefox will not start",
    "How do I export my bookmarks?",
    "Thunderbird does not receive mail",
    "Pages load slowly",
    "Sync stopped working",
    "Clear cookies and site data",
]
PACKAGES = ["eslint", "webpack", "pytest", "django", "jest", "prettier", "sentry-sdk", "babel"]
