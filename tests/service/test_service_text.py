"""Names and external ids are NFC-normalised, and control and format characters are refused: invisible and
right-to-left characters once let two look-alike people (``B-1042`` and ``B-1042`` + a zero-width space) into the
log, and a right-to-left override could make a name read backwards."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

INVISIBLE = ["\u200b", "\u200d", "\u202e", "\u2066", "\ufeff", "\u00ad", "\u2028", "\x85", "\U000e0041"]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_control_and_format_characters_are_refused(admin: TestClient, char: str) -> None:
    before = admin.get("/v1/people").json()["total"]
    for body in (
        {"external_id": f"B-10{char}42", "display_name": "Eve"},
        {"external_id": f"txt-{ord(char)}", "display_name": f"Eve{char}Adams"},
    ):
        response = admin.post("/v1/people", json=body)
        assert (response.status_code, response.json()["code"]) == (422, "request_invalid"), body
    assert admin.get("/v1/people").json()["total"] == before
    door = admin.post("/v1/doors", json={"name": f"do{char}or", "timezone": "UTC"})
    assert (door.status_code, door.json()["code"]) == (422, "name_invalid")
    group = admin.post("/v1/groups", json={"name": f"gr{char}oup"})
    assert (group.status_code, group.json()["code"]) == (422, "name_invalid")
    key = admin.post("/v1/keys", json={"name": f"ke{char}y", "role": "auditor"})
    assert (key.status_code, key.json()["code"]) == (422, "request_invalid")


def test_text_is_stored_in_nfc_so_look_alikes_collide(admin: TestClient) -> None:
    composed = admin.post("/v1/people", json={"external_id": "caf\u00e9-1", "display_name": "Ren\u00e9e"})
    assert composed.status_code == 201, composed.text
    decomposed = admin.post("/v1/people", json={"external_id": "cafe\u0301-1", "display_name": "x"})
    assert (decomposed.status_code, decomposed.json()["code"]) == (409, "external_id_taken")
    renamed = admin.patch(f"/v1/people/{composed.json()['id']}", json={"display_name": "Rene\u0301e"}).json()
    assert renamed["display_name"] == "Ren\u00e9e"
    door = admin.post("/v1/doors", json={"name": "Entrée-nfc", "timezone": "UTC"}).json()["id"]
    twin = admin.post("/v1/doors", json={"name": "Entrée-nfc", "timezone": "UTC"})
    assert (twin.status_code, twin.json()["code"]) == (409, "name_taken") and door > 0
    # Letters of every script stay welcome.
    assert admin.post("/v1/people", json={"external_id": "\u0645-1", "display_name": "\u5f20\u4f1f"}).status_code == 201
