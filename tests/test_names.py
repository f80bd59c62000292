"""Name rules: what a run, partner or user name may hold."""

import pytest

from fedadmet.exceptions import InputError
from fedadmet.names import check_partner_name, check_run_name, check_user_name


def test_colons_and_quotes_are_plain_characters_of_a_name() -> None:
    """Failures travel as typed records, so no text format needs names without colons or quotes."""
    check_partner_name("site: 'basel'")
    check_run_name('consortium: "2026"')
    check_user_name("o'brien")


@pytest.mark.parametrize("name", ["../x", "a/b", "c:\\temp", ".", ".."])
def test_a_run_name_that_is_or_holds_a_path_is_refused(name: str) -> None:
    with pytest.raises(InputError, match="is or holds a path"):
        check_run_name(name)


@pytest.mark.parametrize(
    ("name", "reason"), [("", "is empty"), (" a", "starts or ends with a space"), ("a\tb", "tab or line break")]
)
def test_blank_padded_or_multi_line_partner_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        check_partner_name(name)
