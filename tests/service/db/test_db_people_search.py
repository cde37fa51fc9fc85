"""People search matches its text literally on both dialects: ``%`` and ``_`` were LIKE wildcards (``_`` matched
every one-character position, ``%`` everyone)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.db.models import Person
from service.repositories.people import list_people


def test_wildcards_and_the_escape_character_are_literal(session: Session) -> None:
    for external_id, name in [
        ("a_1", "Under Score"),
        ("ab1", "Plain"),
        ("p%1", "Per Cent"),
        ("px1", "Other"),
        ("b\\1", "Back Slash"),
    ]:
        session.add(Person(external_id=external_id, display_name=name))
    session.commit()

    def found(search: str) -> list[str]:
        return [p.external_id for p in list_people(session, search=search)[0]]

    assert found("a_") == ["a_1"]
    assert found("%") == ["p%1"]
    assert found("p%") == ["p%1"]
    assert found("_") == ["a_1"]
    assert found("\\") == ["b\\1"]
    assert found("b\\") == ["b\\1"]
    assert sorted(found("1")) == sorted(["a_1", "ab1", "p%1", "px1", "b\\1"])
    assert found("SCORE") == ["a_1"]
