"""Identity keys: what makes two accounts the same account, exactly.

A key is (kind, namespace, normalised value). E-mails share one namespace across every source;
user names and uids live in their source's account namespace. They are written where a record's
actor is first read (ingestion, here in `activities`), and `contributors` resolves them to identities.
"""

import re

from baloo_site.emails import email_lowercase, email_normalise

Key = tuple[str, str, str]

EMAIL = "email"
USERNAME = "username"
UID = "uid"

# GitHub's private commit addresses: `12345+login@users.noreply.github.com`, or the older `login@…`.
GITHUB_NOREPLY = re.compile(r"^(?:(?P<uid>\d+)\+)?(?P<login>[^@+]+)@users\.noreply\.github\.com$")
# The account namespace of github.com itself: a noreply address names a github.com account whether
# or not a GitHub source is configured (a community may import only git histories).
GITHUB_COM_NAMESPACE = "github.com"


# An address spelled out to dodge harvesters, `ann (at) example.org` or `ann [at] example [dot] org`:
# a bracketed "at" before a dotted domain (`。` too, which IDNA reads as a dot).
SPELLED_OUT_ADDRESS = re.compile(
    r"\S\s*[(\[{<]\s*at\s*[)\]}>]\s*[\w-]+(?:\s*(?:[.。]|[(\[{<]\s*dot\s*[)\]}>])\s*[\w-]+)+", re.IGNORECASE
)


def looks_like_email(value: str) -> bool:
    """Whether text shown on a public page would show an e-mail address: any `@` once normalised
    (`email_normalise`: `ann＠example．org`, `ann﹫example.org`, `ann@\u200bexample.org`), or an
    address spelled out (`ann (at) example.org`). Public names and user names that do are not shown."""
    normalised = email_normalise(value)
    return "@" in normalised or bool(SPELLED_OUT_ADDRESS.search(normalised))


def email_key(value: str) -> Key:
    """The key of an e-mail: normalised (`email_normalise`) and compared in lower case (`email_lowercase`)."""
    return (EMAIL, "", email_lowercase(email_normalise(value)))


def sign_in_email_key(value: str) -> Key | None:
    """The key under which a signed-in person's e-mail finds their record, or None when the address
    is not already in its one form: a provider may verify a look-alike mailbox (`ａｎｎ@…`, or one
    with a zero-width space), and normalising it would hand its owner the plain address's record."""
    if not value.strip() or email_normalise(value) != value.strip():
        return None
    return email_key(value)


def username_key(namespace: str, value: str) -> Key:
    """A user name in a source's account namespace (`Source.accounts_namespace`)."""
    return (USERNAME, namespace, value.strip().casefold())


def github_noreply_keys(email: str, *, namespaces: set[str]) -> list[Key]:
    """The GitHub account keys a noreply address stands for: in github.com's own namespace
    (`GITHUB_COM_NAMESPACE`), always, so `12345+ann@…` and `ann@…` are one account with no GitHub
    source configured, and in the namespace of each github.com source, so they join its accounts."""
    match = GITHUB_NOREPLY.match(email)
    if not match:
        return []
    keys: list[Key] = []
    for namespace in sorted(namespaces | {GITHUB_COM_NAMESPACE}):
        if match["uid"]:
            keys.append((UID, namespace, match["uid"]))
        keys.append((USERNAME, namespace, match["login"]))
    return keys
