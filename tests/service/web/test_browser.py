"""The console and the kiosk in a real browser (headless Chromium) against a real server process.

Few and coarse on purpose (they run in CI on 2 shared cores): one walk through the admin's work (sign in, add a
person, enrol two real LFW images and a third from the (fake) camera, add a door and a scheduled rule, see it
listed), the kiosk with Chromium's fake camera playing a real face (the enrolled person is granted and named; a
stranger is denied), and an auditor who can see but not change. Every page is checked for Content-Security-Policy
violations in the browser's console.
``FACEGATE_SCREENSHOTS=<folder>`` saves screenshots of the main pages (docs/img/ holds the committed ones).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser import chromium, require_browser, write_y4m
from server_process import server_process

from service.domain.keys import generate_token

pytestmark = pytest.mark.slow

PERSON = "Abdullah_Gul"  # an LFW person with many images: two are enrolled, the kiosk sees the first


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    require_browser()
    folder = tmp_path_factory.mktemp("browser-server")
    token = generate_token()
    with server_process(folder, token, "server.log") as (_process, base):
        yield base, token


@pytest.fixture(scope="module")
def lfw_person(lfw_dir: Path) -> list[Path]:
    images = sorted((lfw_dir / PERSON).glob("*.jpg"))
    assert len(images) >= 3
    return images


def _shot(driver: object, name: str) -> None:
    folder = os.environ.get("FACEGATE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))  # type: ignore[attr-defined]


def _csp_violations(driver: object) -> list[str]:
    entries = driver.get_log("browser")  # type: ignore[attr-defined]
    return [e["message"] for e in entries if "Content Security Policy" in e["message"] or "Refused to" in e["message"]]


def _sign_in(driver: object, base: str, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/console")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "key").send_keys(key)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()  # type: ignore[attr-defined]
    _wait(driver, lambda d: "/console/people" in d.current_url)


def _wait(driver: object, condition: object) -> None:
    """Until ``condition(driver)`` holds: a hang guard (60 s) for the page the last click loads, not a speed check."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(condition)  # type: ignore[arg-type]


def _submit(driver: object, label: str) -> None:
    """Click the button labelled ``label`` and wait for the next page (the old page's button goes stale)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    button = driver.find_element(By.XPATH, f"//button[text()='{label}']")  # type: ignore[attr-defined]
    button.click()
    _wait(driver, expected_conditions.staleness_of(button))


def _api_key(base: str, admin: str, role: str, door_ids: list[int] | None = None) -> str:
    body = {"name": f"browser {role}", "role": role, "door_ids": door_ids or []}
    answer = httpx.post(f"{base}/v1/keys", json=body, headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


def test_admin_enrols_a_person_and_gives_a_rule(
    server: tuple[str, str], lfw_person: list[Path], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, admin = server
    camera = write_y4m(lfw_person[2], tmp_path / "enrol.y4m")
    with chromium(tmp_path / "profile", camera=camera) as driver:
        _sign_in(driver, base, admin)
        assert driver.current_url.endswith("/console/people")

        driver.find_element(By.ID, "external_id").send_keys("AG-1")
        driver.find_element(By.ID, "display_name").send_keys("Abdullah Gul")
        _submit(driver, "Add person")
        assert "added Abdullah Gul" in driver.find_element(By.CLASS_NAME, "notice").text

        driver.find_element(By.ID, "images").send_keys("\n".join(str(p) for p in lfw_person[:2]))
        _submit(driver, "Enrol")
        assert driver.find_element(By.ID, "enrol-result").text == "enrolled 2 of 2 image(s)"
        rows = driver.find_elements(By.CSS_SELECTOR, "#verdicts tbody tr")
        assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows] == ["enrolled", "enrolled"]
        _shot(driver, "console-person")

        # A third image from the browser's camera (Chromium's fake camera plays another photo of the person).
        driver.find_element(By.ID, "camera-start").click()
        _wait(driver, lambda d: d.execute_script("return document.getElementById('camera-preview').videoWidth > 0"))
        driver.find_element(By.ID, "camera-take").click()
        _wait(driver, lambda d: d.find_element(By.ID, "camera-count").text == "1 image(s) ready")
        _submit(driver, "Enrol")
        assert driver.find_element(By.ID, "enrol-result").text == "enrolled 1 of 1 image(s)"
        assert driver.find_element(By.CSS_SELECTOR, "#verdicts tbody td:nth-child(2)").text == "camera-1.jpg"

        driver.get(f"{base}/console/doors")
        driver.find_element(By.ID, "door_name").send_keys("main entrance")
        timezone = driver.find_element(By.ID, "timezone")
        timezone.clear()
        timezone.send_keys("Europe/Paris")
        _submit(driver, "Add door")
        assert "main entrance" in driver.find_element(By.TAG_NAME, "table").text
        _shot(driver, "console-doors")

        driver.get(f"{base}/console/rules")
        driver.find_element(By.ID, "rule_person").send_keys("AG-1")
        Select(driver.find_element(By.ID, "rule_door")).select_by_visible_text("main entrance (Europe/Paris)")
        for day in ("mon", "tue", "wed", "thu", "fri"):
            driver.find_element(By.CSS_SELECTOR, f"input[name=w0_days][value={day}]").click()
        _submit(driver, "Add rule")
        listed = driver.find_element(By.ID, "rules").text
        assert "person Abdullah Gul" in listed and "main entrance (Europe/Paris)" in listed
        assert "mon, tue, wed, thu, fri 08:00–18:00" in listed
        _shot(driver, "console-rules")

        for page in ("people", "keys", "webhooks"):
            driver.get(f"{base}/console/{page}")
            _shot(driver, f"console-{page}")
        assert _csp_violations(driver) == []


def test_the_kiosk_grants_the_enrolled_person_and_denies_a_stranger(
    server: tuple[str, str], lfw_person: list[Path], fixture_face_paths: list[Path], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, admin = server
    auth = {"Authorization": f"Bearer {admin}"}
    door = httpx.post(f"{base}/v1/doors", json={"name": "kiosk door", "timezone": "UTC"}, headers=auth).json()["id"]
    people = httpx.get(f"{base}/v1/people?search=AG-1", headers=auth).json()["items"]
    if people:
        person = people[0]["id"]
    else:  # this test alone: enrol through the API
        person = httpx.post(
            f"{base}/v1/people", json={"external_id": "AG-1", "display_name": "Abdullah Gul"}, headers=auth
        ).json()["id"]
        files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in lfw_person[:2]]
        assert httpx.post(f"{base}/v1/people/{person}/faces", files=files, headers=auth, timeout=60).status_code == 201
    assert httpx.post(f"{base}/v1/rules", json={"person_id": person, "door_id": door}, headers=auth).status_code == 201
    terminal = _api_key(base, admin, "terminal", [door])

    for name, image, expected in (
        ("enrolled", lfw_person[0], "Granted"),
        ("stranger", fixture_face_paths[0], "Denied"),
    ):
        clip = write_y4m(image, tmp_path / f"{name}.y4m")
        with chromium(tmp_path / f"profile-{name}", camera=clip) as driver:
            driver.get(f"{base}/kiosk/{door}")
            driver.find_element(By.ID, "key").send_keys(terminal)
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            _wait(driver, lambda d: d.execute_script("return !!document.getElementById('camera')"))
            # A hang guard, not a speed check: the page waits ~1 s for a steady picture, then asks the server.
            WebDriverWait(driver, 90).until(
                lambda d: (
                    d.execute_script("return document.body && document.body.dataset.state") in ("granted", "denied")
                )
            )
            verdict = driver.find_element(By.ID, "verdict").text
            shown_name = driver.find_element(By.ID, "name").text
            message = driver.find_element(By.ID, "message").text
            _shot(driver, f"kiosk-{name}")
            assert _csp_violations(driver) == []
        assert verdict == expected, (name, verdict, message)
        if expected == "Granted":
            assert shown_name == "Abdullah Gul" and message == "Welcome"
        else:
            assert shown_name == "" and message == "Face not recognised"


def test_an_auditor_sees_but_cannot_change(server: tuple[str, str], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    base, admin = server
    auditor = _api_key(base, admin, "auditor")
    with chromium(tmp_path / "profile") as driver:
        _sign_in(driver, base, auditor)
        for page in ("people", "doors", "rules", "keys", "webhooks"):
            driver.get(f"{base}/console/{page}")
            forms = driver.find_elements(By.CSS_SELECTOR, "form[method=post]")
            assert [f.get_attribute("action") for f in forms] == [f"{base}/console/signout"], page
        for page in ("log", "status"):  # after the kiosk test: its decisions are in the log and the counters
            driver.get(f"{base}/console/{page}")
            _shot(driver, f"console-{page}")
        # A hand-made request from the auditor's own session, with its valid CSRF token: refused by role.
        status = driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            const csrf = document.querySelector("input[name=csrf_token]").value;
            const body = new URLSearchParams({csrf_token: csrf, name: "auditor door", timezone: "UTC"});
            fetch("/console/doors", {method: "POST", body: body}).then(r => done(r.status));
            """
        )
        assert status == 403
        assert _csp_violations(driver) == []

        # /docs: Swagger UI from the app's own files renders the API, and the page loads nothing from elsewhere.
        driver.get(f"{base}/docs")
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
        assert "facegate" in driver.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
        loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(url.startswith(base) for url in loaded), loaded
        assert _csp_violations(driver) == []
    doors = httpx.get(f"{base}/v1/doors", headers={"Authorization": f"Bearer {admin}"}).json()["items"]
    assert "auditor door" not in [d["name"] for d in doors]
