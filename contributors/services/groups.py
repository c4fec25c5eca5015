"""Which keys are one account and which persons may be merged automatically.

Within one account space (a source's namespace; GitHub's are one) a uid is the account: two uids
never become one person by any automatic rule (`AccountGroups`, `KeptApart`). Excluded values never
join anything; locked persons and persons an admin separated are never merged automatically
(`blocked_person_pairs`, `merge_allowed`).
"""

from collections.abc import Callable, Iterable

from activities.keys import EMAIL, GITHUB_COM_NAMESPACE, UID, email_key

from ..models import Identity, IdentityExclusion, Person, Separation


class UnionFind:
    """Groups of nodes joined transitively."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, node):
        parent = self.parent.setdefault(node, node)
        if parent == node:
            return node
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, first, second) -> None:
        first_root, second_root = self.find(first), self.find(second)
        if first_root != second_root:
            self.parent[second_root] = first_root

    def link(self, first, second) -> bool:
        """Join two groups; whether they joined (always, here)."""
        self.union(first, second)
        return True


class AccountGroups(UnionFind):
    """Keys joined transitively, each group knowing the accounts (uids) it holds in each account space.

    The uid is the account: a group that holds a uid in an account space never joins a group that
    holds only other uids there (`link` refuses), whatever key would join them — a login (logins are
    renamed and reused: GitHub hands a released login to whoever asks next), an e-mail, a noreply
    address. A rename keeps the uid, and so the person. So two accounts never become one person
    without a human. An account space is a namespace, except that github.com's own namespace and
    every github.com source's are one (`account_space_of`): a noreply address names its account in
    each of them.
    """

    def __init__(self, space_of: Callable[[str], str] = str) -> None:
        super().__init__()
        self.space_of = space_of
        self.uids: dict = {}  # group root → {(account space, uid)}

    def find(self, node):
        if node not in self.parent and node[0] == UID:
            self.uids[node] = {(self.space_of(node[1]), node[2])}
        return super().find(node)

    def union(self, first, second) -> None:
        first_root, second_root = self.find(first), self.find(second)
        if first_root != second_root:
            self.parent[second_root] = first_root
            moved = self.uids.pop(second_root, None)
            if moved:
                self.uids.setdefault(first_root, set()).update(moved)

    def tag_uids(self, node, uids: Iterable[tuple[str, str]]) -> None:
        """Note the uids (namespace, uid) that the person a node stands for holds."""
        held = self.uids.setdefault(self.find(node), set())
        held.update((self.space_of(namespace), uid) for namespace, uid in uids)

    def accounts_apart(self, first, second) -> bool:
        """Whether the two groups hold different accounts of one account space, and none in common."""
        held_first = self.uids.get(self.find(first), ())
        held_second = self.uids.get(self.find(second), ())
        if not held_first or not held_second:
            return False
        by_space: dict[str, set[str]] = {}
        for space, uid in held_first:
            by_space.setdefault(space, set()).add(uid)
        second_by_space: dict[str, set[str]] = {}
        for space, uid in held_second:
            second_by_space.setdefault(space, set()).add(uid)
        return any(
            space in second_by_space and uids.isdisjoint(second_by_space[space]) for space, uids in by_space.items()
        )

    def link(self, first, second) -> bool:
        """Join the two groups unless they hold two accounts (`accounts_apart`); whether they joined."""
        if self.accounts_apart(first, second):
            return False
        self.union(first, second)
        return True


def github_account_namespaces() -> set[str]:
    """The account namespaces of github.com sources (not GitHub Enterprise), where GitHub noreply
    addresses point too."""
    from activities.models import Source  # people do not depend on activities at import time

    sources = Source.objects.filter(kind="github").only("slug", "kind", "account_namespace", "base_url")
    return {source.accounts_namespace for source in sources if source.is_github_com}


def account_space_of() -> Callable[[str], str]:
    """Namespace → account space: github.com's namespace and every github.com source's are one
    (the same accounts, named by a noreply address in each); any other namespace is its own."""
    github = github_account_namespaces() | {GITHUB_COM_NAMESPACE}
    return lambda namespace: GITHUB_COM_NAMESPACE if namespace in github else namespace


class KeptApart:
    """The pairs of persons no automatic rule joins: those an admin separated, and those holding two
    accounts — different uids of one account space, none in common (the uid is the account)."""

    def __init__(self, separated: set[frozenset[int]], accounts: dict[int, dict[str, set[str]]]) -> None:
        self.separated = separated
        self.accounts = accounts  # person → account space → uids

    def __iter__(self):
        return iter(self.separated)

    def __contains__(self, pair) -> bool:
        return pair in self.separated or self.two_accounts(pair)

    def two_accounts(self, person_ids: Iterable[int]) -> bool:
        """Whether two of these persons hold two accounts of one account space."""
        by_space: dict[str, list[set[str]]] = {}
        for person_id in person_ids:
            for space, uids in self.accounts.get(person_id, {}).items():
                by_space.setdefault(space, []).append(uids)
        return any(
            first.isdisjoint(second)
            for held in by_space.values()
            if len(held) > 1
            for position, first in enumerate(held)
            for second in held[position + 1 :]
        )

    def within(self, person_ids: set[int]) -> bool:
        """Whether making one person of these would join two persons kept apart."""
        return self.two_accounts(person_ids) or any(pair <= person_ids for pair in self.separated)


def accounts_of_persons(person_ids: Iterable[int]) -> dict[int, dict[str, set[str]]]:
    """The uids each of these persons holds, by account space (`account_space_of`)."""
    space_of = None
    held: dict[int, dict[str, set[str]]] = {}
    for person_id, uids in uids_of_persons(person_ids).items():
        space_of = space_of or account_space_of()
        for namespace, uid in uids:
            held.setdefault(person_id, {}).setdefault(space_of(namespace), set()).add(uid)
    return held


def uids_of_persons(person_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """The uids (namespace, uid) each of these persons holds."""
    person_ids = list(person_ids)
    found: dict[int, list[tuple[str, str]]] = {}
    for start in range(0, len(person_ids), 5000):
        for person_id, namespace, value in Identity.objects.filter(
            kind=UID, person_id__in=person_ids[start : start + 5000]
        ).values_list("person_id", "namespace", "value"):
            found.setdefault(person_id, []).append((namespace, value))
    return found


def excluded_values() -> set[tuple[str, str]]:
    """(kind, value) pairs that never merge anyone, each value written as its key writes it."""
    return {
        (kind, email_key(value)[2] if kind == EMAIL else value.strip().casefold())
        for kind, value in IdentityExclusion.objects.values_list("kind", "value")
    }


def blocked_person_pairs(person_ids: Iterable[int]) -> tuple[set[int], KeptApart]:
    """Among these persons: the locked ones, and the pairs kept apart (`KeptApart`: those an admin
    separated, and those holding two accounts of one account space)."""
    # Locks and separations are rare: read them all and filter here, rather than sending
    # every person id of a large batch to the database.
    person_ids = set(person_ids)
    locked = set(Person.objects.filter(locked=True).values_list("pk", flat=True)) & person_ids
    accounts = accounts_of_persons(person_ids) if len(person_ids) > 1 else {}
    separations = list(Separation.objects.values_list("identity_a_id", "identity_b_id"))
    if not separations:  # the usual case; a join would still read the identity table
        return locked, KeptApart(set(), accounts)
    person_of = dict(
        Identity.objects.filter(pk__in={pk for pair in separations for pk in pair}).values_list("pk", "person_id")
    )
    pairs = {
        frozenset((person_of[a], person_of[b]))
        for a, b in separations
        if person_of[a] != person_of[b] and person_of[a] in person_ids and person_of[b] in person_ids
    }
    return locked, KeptApart(pairs, accounts)


def merge_allowed(person_ids: set[int], *, locked: set[int], separated: KeptApart | set[frozenset[int]]) -> bool:
    """Whether an automatic rule may make one person of these: none locked, none kept apart (an
    admin separated them, or they hold two accounts: `KeptApart`)."""
    if len(person_ids) < 2:
        return True
    if person_ids & locked:
        return False
    if isinstance(separated, KeptApart):
        return not separated.within(person_ids)
    return not any(pair <= person_ids for pair in separated)
