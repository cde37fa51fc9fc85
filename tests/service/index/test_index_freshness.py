"""One test of "is this index file current", shared by the server's start and ``facegate index status``."""

from __future__ import annotations

import pytest

from service.index.freshness import stale_stamp, staleness
from service.index.types import IndexStamp

EXPECTED = IndexStamp(model_id="fg1-a", revision=7, dim=512, kind="flat")
PEOPLE = {1: 10, 2: 10, 3: 11}


def test_a_file_matching_sql_is_current() -> None:
    assert staleness(EXPECTED, dict(PEOPLE), EXPECTED, PEOPLE) is None
    assert staleness(EXPECTED, {}, EXPECTED, {}) is None


@pytest.mark.parametrize(("field", "value"), [("model_id", "fg1-b"), ("dim", 128), ("kind", "hnsw"), ("revision", 6)])
def test_each_stamp_field_makes_it_stale(field: str, value: object) -> None:
    stamp = IndexStamp(**{**EXPECTED.__dict__, field: value})
    found = staleness(stamp, PEOPLE, EXPECTED, PEOPLE)
    assert found is not None and found.reason == f"stale-{field}" and str(value) in found.detail
    assert stale_stamp(stamp, EXPECTED) == found


@pytest.mark.parametrize(
    "in_file",
    [{1: 10, 2: 10}, {1: 10, 2: 10, 3: 11, 4: 12}, {1: 10, 2: 10, 3: 12}, {1: 10, 2: 10, 5: 11}],
    ids=["one-missing", "one-extra", "other-person", "other-id"],
)
def test_other_templates_at_the_same_revision_are_a_mismatch(in_file: dict[int, int]) -> None:
    found = staleness(EXPECTED, in_file, EXPECTED, PEOPLE)
    assert found is not None and found.reason == "mismatch"
    assert stale_stamp(EXPECTED, EXPECTED) is None  # the stamp alone cannot tell
