"""``facegate enroll PERSON IMAGE...``: one person's face images through the service's own enrolment.

:func:`service.core.enrolment.enrol_images` does the work, as for ``POST /v1/people/{id}/faces``: each image is
quality-gated on its own, the good ones are stored together, a face matching another person is refused unless
``--force``. The command adds only reading the files and printing what became of each.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from service.cli import output
from service.cli.context import find_person, guarded, runtime

if TYPE_CHECKING:
    from service.schemas.people import EnrolmentResponse

VERDICT_HEADERS = ("image", "result", "interocular px", "det score", "blur", "yaw", "pitch")


def echo_verdicts(response: EnrolmentResponse) -> None:
    """One line per image: the template it became, or why it was refused, with its quality figures."""
    rows = []
    for image in response.images:
        result = f"template {image.template_id}" if image.template_id is not None else f"refused: {image.reason}"
        q = image.quality
        figures = (q.interocular_px, q.det_score, q.blur, q.yaw, q.pitch) if q else (None,) * 5
        rows.append((image.filename or f"#{image.index}", result, *figures))
    output.echo_table(VERDICT_HEADERS, rows)


def read_images(paths: list[Path]) -> list[tuple[str | None, bytes]]:
    """``(file name, bytes)`` of each image; a missing or unreadable file stops the command before any work."""
    return [(path.name, path.read_bytes()) for path in paths]


@guarded
def enroll(
    person_ref: Annotated[
        str, typer.Argument(metavar="PERSON", help="External id (badge) or numeric id; #12 means id 12 only.")
    ],
    images: Annotated[list[Path], typer.Argument(metavar="IMAGE", help="Face images (JPEG, PNG, WebP, BMP, PGM).")],
    force: Annotated[bool, typer.Option(help="Enrol even if the face matches another enrolled person.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the HTTP API's schema).")] = False,
) -> None:
    """Enrol face images of one person: each is quality-gated, the good ones become templates.

    Refused images are listed with their reason (no_face, face_too_small, face_too_blurred, ...). It fails when
    no image is usable, or when the face matches another person (--force overrides, as for the API).

    Example: facegate enroll B-1042 ada1.jpg ada2.jpg ada3.jpg
    """
    from service.core.enrolment import NothingEnrolledError, enrol_images
    from service.schemas.people import EnrolmentResponse

    data = read_images(images)
    with runtime() as opened:
        with opened.sessionmaker() as session:
            person = find_person(session, person_ref)
        try:
            result = enrol_images(opened, person_id=person.id, images=data, force=force)
        except NothingEnrolledError as exc:
            if not as_json:
                echo_verdicts(EnrolmentResponse.of(person.id, exc.verdicts))
            raise
    response = EnrolmentResponse.of(person.id, result.verdicts)
    if as_json:
        output.echo_json(response)
        return
    echo_verdicts(response)
    typer.echo(
        f"enrolled {response.enrolled} of {len(response.images)} images for {person.external_id!r} "
        f"(template revision {result.revision})"
    )
