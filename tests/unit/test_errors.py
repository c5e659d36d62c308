"""The error hierarchy: each code names one thing, so each has its own code and its own title."""

from __future__ import annotations

from collections.abc import Iterator

from settlement import errors


def _hierarchy(cls: type[errors.SettlementError]) -> Iterator[type[errors.SettlementError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _hierarchy(sub)


ALL = list(_hierarchy(errors.SettlementError))


def test_every_error_defines_its_own_code_and_title() -> None:
    inheriting = [c.__name__ for c in ALL if "code" not in vars(c) or "title" not in vars(c)]
    assert inheriting == [], f"give these their own code and title: {inheriting}"


def test_codes_and_titles_are_distinct() -> None:
    codes = [c.code for c in ALL]
    titles = [c.title for c in ALL]
    assert len(set(codes)) == len(codes), sorted(c for c in codes if codes.count(c) > 1)
    assert len(set(titles)) == len(titles), sorted(t for t in titles if titles.count(t) > 1)
