"""The two console scripts: `facegate` (the service's CLI) and `facegate-train` (training's, so that the service
never imports training code)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path


def test_console_scripts_are_declared() -> None:
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("facegate") == "service.cli:app"
    assert scripts.get("facegate-train") == "training.cli:main"


def test_facegate_train_help_runs() -> None:
    script = Path(sys.executable).with_name("facegate-train")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "usage: facegate-train" in result.stdout and "prepare" in result.stdout
