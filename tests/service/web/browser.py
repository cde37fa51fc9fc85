"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by Selenium through Debian's
``/usr/bin/chromedriver`` (nothing is downloaded), and the Y4M clips Chromium's fake camera plays.

Without the browser the tests skip with the reason, unless ``FACEGATE_REQUIRE_BROWSER=1`` (CI), where a missing
browser is a failure: ``scripts/install-browser`` installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


def require_browser() -> None:
    """Skip (or fail under FACEGATE_REQUIRE_BROWSER=1) when chromium, chromedriver or selenium is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists() and not shutil.which(p.name)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if not missing:
        return
    reason = f"browser tests need {', '.join(missing)} (scripts/install-browser installs them)"
    if os.environ.get("FACEGATE_REQUIRE_BROWSER", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"FACEGATE_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@contextmanager
def chromium(profile: Path, *, camera: Path | None = None) -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile; ``camera``: a Y4M file its fake camera plays (in a loop)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    if camera is not None:
        options.add_argument("--use-fake-ui-for-media-stream")  # answer the camera permission prompt: allow
        options.add_argument("--use-fake-device-for-media-stream")
        options.add_argument(f"--use-file-for-fake-video-capture={camera}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = CHROMEDRIVER if CHROMEDRIVER.exists() else Path(shutil.which("chromedriver") or CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(driver_path)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def write_y4m(image: Path, target: Path, *, frames: int = 10, size: tuple[int, int] = (640, 480)) -> Path:
    """A short Y4M clip (4:2:0) of ``image`` scaled to fill the frame's height, centred on grey: what a camera
    beside the door sees of someone standing still in front of it."""
    width, height = size
    face = Image.open(image).convert("RGB")
    face = face.resize((height * face.width // face.height, height), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", size, (128, 128, 128))
    canvas.paste(face, ((width - face.width) // 2, 0))
    y, cb, cr = (np.asarray(plane) for plane in canvas.convert("YCbCr").split())
    chroma = [np.asarray(Image.fromarray(p).resize((width // 2, height // 2), Image.Resampling.BOX)) for p in (cb, cr)]
    frame = b"FRAME\n" + y.tobytes() + chroma[0].tobytes() + chroma[1].tobytes()
    target.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * frames)
    return target
