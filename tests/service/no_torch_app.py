"""Run inside a process where torch cannot be imported (``tests/fixtures/no_torch`` on ``PYTHONPATH``): build the
app from the ``FACEGATE_*`` environment, enrol one real face and check it at a door over HTTP (the app's lifespan
loads the model package, ONNX Runtime's MTCNN and embedder, and the index), then print a JSON report on stdout.

``python tests/service/no_torch_app.py FACE.jpg STRANGER.jpg`` enrols FACE, checks FACE and STRANGER; used by
``tests/service/test_service_without_torch.py``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from service.main import create_app

TORCH_MODULES = ("torch", "torchvision", "facenet_pytorch")


def main(face_path: Path, stranger_path: Path) -> dict[str, object]:
    face = face_path.read_bytes()
    headers = {"Authorization": f"Bearer {os.environ['FACEGATE_ADMIN_KEY']}"}
    with TestClient(create_app(), headers=headers) as client:
        embedder = client.app.state.embedder  # type: ignore[attr-defined]
        door = client.post("/v1/doors", json={"name": "lobby", "timezone": "Europe/Paris"})
        person = client.post("/v1/people", json={"external_id": "no-torch-1", "display_name": face_path.stem})
        door_id, person_id = door.json()["id"], person.json()["id"]
        enrolled = client.post(f"/v1/people/{person_id}/faces", files=[("images", ("a.jpg", face, "image/jpeg"))])
        rule = client.post("/v1/rules", json={"person_id": person_id, "door_id": door_id})
        check, stranger = (
            client.post(
                "/v1/access/check", data={"door_id": str(door_id)}, files=[("frames", ("f.jpg", frame, "image/jpeg"))]
            )
            for frame in (face, stranger_path.read_bytes())
        )
        return {
            "runtime": embedder.runtime,
            "model_id": embedder.model_id,
            "statuses": [door.status_code, person.status_code, enrolled.status_code, rule.status_code],
            "check_status": check.status_code,
            "check": check.json(),
            "stranger_status": stranger.status_code,
            "stranger": stranger.json(),
            "torch_modules": sorted(name for name in sys.modules if name.split(".")[0] in TORCH_MODULES),
        }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))) + "\n")
