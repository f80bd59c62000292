"""Name rules for runs, partners and users: the ground floor that the registry, the federation and the
CLI share, so that a name accepted in one place is accepted everywhere."""

from __future__ import annotations

from collections.abc import Sequence

from fedadmet.exceptions import InputError


def check_partner_name(partner: str) -> None:
    """The name labels the partner's shared metrics and exclusions in the registry, and API keys of the
    partner's users are matched to it: it cannot be blank, padded or hold a tab or line break."""
    _check_name(partner, "partner name", "this partner's name as the consortium knows it", "e.g. site_basel")


def check_run_name(name: str) -> None:
    """A run's name is also a folder name at every partner, where the partner keeps its model of the run
    (and in deployment the coordinator sends it): no path may hide in it."""
    _check_name(name, "run name", "a name for the run", "e.g. consortium-2026")
    if set(name) & set("/\\") or name.strip(".") == "":
        raise InputError(f"the run name {name!r} is or holds a path", expected="a plain name, e.g. consortium-2026")


def check_user_name(name: str) -> None:
    """A user's name is shown in key listings: blank, padded or multi-line names would read wrongly."""
    if not name.strip() or name != name.strip() or not name.isprintable():
        raise InputError(f"the user name {name!r} is blank, padded or holds a tab or line break")


def _check_name(name: str, what: str, meaning: str, example: str) -> None:
    if not name.strip():
        raise InputError(f"the {what} is empty", expected=meaning)
    if not name.isprintable():  # one line in listings and tables
        raise InputError(f"the {what} {name!r} holds a tab or line break", expected=example)
    if name != name.strip():
        raise InputError(f"the {what} {name!r} starts or ends with a space", expected=repr(name.strip()))


def check_distinct_partners(names: Sequence[str]) -> None:
    """Each partner takes part once. Names that differ only in letter case count as one: people (and the
    API keys made for a partner) would read them as the same site, while the registry would keep two."""
    folded = [name.casefold() for name in names]
    clashing = sorted({name for name in names if folded.count(name.casefold()) > 1})
    if clashing:
        raise InputError(
            "partners carry the same name (letter case aside); each partner needs its own",
            got=clashing,
            expected="one prepared folder per partner, each prepared with its own --partner name",
        )
