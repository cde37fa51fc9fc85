"""``facegate check DOOR IMAGE...``: the decision the service would take at a door, from the console.

It is :func:`service.core.access.check_access`, the call behind ``POST /v1/access/check``, so the answer is
the real one, and like a terminal's check it is written to the access log (with no API key). The exit status
tells scripts the answer: 0 granted, 3 denied, 1 for an error (no decision).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli import output
from service.cli.context import find_door, guarded, runtime
from service.cli.enroll import read_images

EXIT_DENIED = 3


@guarded
def check(
    door_ref: Annotated[str, typer.Argument(metavar="DOOR", help="The door's name or id; #3 means id 3 only.")],
    images: Annotated[
        list[Path], typer.Argument(metavar="IMAGE", help="One or more frames of the person at the door.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the HTTP API's schema).")] = False,
) -> None:
    """Decide whether the person in the images may pass the door now, with the reason and the scores.

    This is a real access check: the decision is WRITTEN TO THE ACCESS LOG, as a terminal's would be (no key).
    Exit status 0: granted, 3: denied, 1: error.

    Example: facegate check "main entrance" visitor.jpg
    """
    from service.core.access import check_access
    from service.schemas.access import AccessDecision

    frames = [data for _, data in read_images(images)]
    with runtime() as opened:
        with opened.sessionmaker() as session:
            door = find_door(session, door_ref)
        outcome = check_access(opened, door=door, frames=frames, key_id=None)
        threshold = opened.match_rule.threshold
    person = outcome.person
    answer = AccessDecision.of(outcome, threshold)
    if as_json:
        output.echo_json(answer)
    else:
        who = f"{person.external_id} ({person.display_name})" if person else None
        output.echo_pairs(
            [
                ("decision", f"{answer.decision.value} at {door.name!r}"),
                ("reason", answer.reason.value),
                ("person", who),
                ("score", answer.score),
                ("margin", answer.margin),
                ("threshold", answer.threshold),
                ("gallery", answer.gallery_size),  # templates the threshold was derived for
                ("frames", f"{answer.usable_frames} usable of {answer.frames}"),
                ("latency", f"{answer.latency_ms:.0f} ms"),
                ("log entry", answer.log_id),
            ]
        )
    if not outcome.granted:
        raise typer.Exit(EXIT_DENIED)
