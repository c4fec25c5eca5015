"""The invented words of the demo community: people's names, e-mail domains and the titles of their work.

Every name here is invented or common; put together at random they name no real person. The
addresses use the domains reserved for examples (RFC 2606), never a real mailbox.
"""

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
