"""Face endpoints. ``POST /v1/faces/detect``: every face in an uploaded image, with landmarks, quality,
which one is the subject and, on request, the embeddings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from models.embedder import Face
from service.api.auth import TerminalKey
from service.api.deps import EmbedderDep, SettingsDep
from service.api.errors import ForbiddenError, problem_responses
from service.api.limits import read_upload
from service.db.models import KeyRole
from service.schemas import DetectedFace, FaceDetectionResponse, FaceQualityPublic, ImageInfo

router = APIRouter(prefix="/v1/faces", tags=["faces"])


@router.post(
    "/detect",
    summary="Detect the faces in an image",
    response_model_exclude_none=True,
    responses=problem_responses(400, 401, 403, 413, 415, 422, 429, 503),
)
async def detect_faces(
    image: Annotated[UploadFile, File(description="The image: JPEG, PNG, WebP, BMP or PGM/PPM.")],
    embedder: EmbedderDep,
    settings: SettingsDep,
    key: TerminalKey,
    embeddings: Annotated[bool, Query(description="Include each face's embedding.")] = False,
) -> FaceDetectionResponse:
    """Decode the upload (size and pixel limits, EXIF orientation), find every face, mark the subject
    (the large, central face the picture is of) and measure each face's quality.

    Faces come most confident first; ``faces`` is empty when the image holds none. Terminals may call it to aim
    their camera; ``embeddings=true`` is for admin keys only (403 ``forbidden``): raw embeddings of any face are
    more than a door needs.
    """
    if embeddings and key.role is not KeyRole.ADMIN:
        raise ForbiddenError("only an admin key may read embeddings")
    data = await read_upload(image, settings.max_upload_bytes)
    # Decoding, detection and embedding hold the CPU for tens of milliseconds or more: keep them off the event loop.
    analysis = await run_in_threadpool(embedder.analyse, data)
    return FaceDetectionResponse(
        model_id=embedder.model_id,
        model_trained=embedder.package.trained,
        image=ImageInfo(width=analysis.width, height=analysis.height),
        faces=[
            _public_face(face, subject=i == analysis.subject_index, with_embedding=embeddings)
            for i, face in enumerate(analysis.faces)
        ],
    )


def _public_face(face: Face, *, subject: bool, with_embedding: bool) -> DetectedFace:
    x1, y1, x2, y2 = (float(v) for v in face.box)
    q = face.quality
    return DetectedFace(
        box=(x1, y1, x2, y2),
        landmarks=[(x, y) for x, y in face.landmarks.tolist()],
        score=face.score,
        quality=FaceQualityPublic(
            interocular_px=q.interocular_px, det_score=q.det_score, blur=q.blur, yaw=q.yaw, pitch=q.pitch, roll=q.roll
        ),
        subject=subject,
        embedding=face.embedding.tolist() if with_embedding else None,
    )
