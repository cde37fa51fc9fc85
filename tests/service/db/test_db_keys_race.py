""" "At least one active admin key" under real concurrency: two admins revoking each other at the same moment
once both succeeded (3 of 20 rounds on SQLite, 14 of 20 on PostgreSQL) and left nobody able to administer.

Each round runs the two revocations in two threads with their own sessions (two connections). A barrier placed
after the "is there another admin?" check and before the write lines them up, so the old code's race happens on
every round; with the lock, the second revocation waits for the first before it checks, never reaches the
barrier, and the barrier's timeout lets the first go on. Correctness never depends on the timeout: it only decides
how long the first thread waits for a partner that cannot come."""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime

import pytest
from sqlalchemy import Engine

from service.db.models import KeyRole
from service.db.session import make_sessionmaker
from service.db.types import utcnow
from service.repositories import keys as keys_repo
from service.repositories.errors import ConflictError

BARRIER_WAIT_S = 1.5


def test_two_admins_revoking_each_other_leave_one(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        first, _ = keys_repo.create_key(session, name="admin a", role=KeyRole.ADMIN)
        second, _ = keys_repo.create_key(session, name="admin b", role=KeyRole.ADMIN)
        pair = (first.id, second.id)

    barrier = threading.Barrier(2, timeout=BARRIER_WAIT_S)

    def lined_up_utcnow() -> datetime:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return utcnow()

    monkeypatch.setattr(keys_repo, "utcnow", lined_up_utcnow)
    outcomes: dict[int, str] = {}

    def revoke(target: int, caller: int) -> None:
        try:
            with factory.begin() as session:
                keys_repo.revoke_key(session, key_id=target, caller_key_id=caller)
            outcomes[target] = "revoked"
        except ConflictError as exc:
            outcomes[target] = exc.code

    threads = [
        threading.Thread(target=revoke, args=(pair[1], pair[0])),
        threading.Thread(target=revoke, args=(pair[0], pair[1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["last_admin_key", "revoked"], outcomes
    with factory() as session:
        assert keys_repo.has_active_admin(session)
