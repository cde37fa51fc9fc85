"""`facegate-train`: every training tool is a subcommand, and each one's --help works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from models.package import load_package
from training.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[2]
# Nested commands: `facegate-train <command> <sub> --help` for each of their own subcommands.
NESTED = [("shards", "pack"), ("shards", "unpack"), ("study", "run"), ("study", "latency"), ("study", "table")]


@pytest.mark.parametrize("argv", [[name] for name in COMMANDS] + [list(pair) for pair in NESTED], ids=" ".join)
def test_every_subcommand_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert usage.startswith(f"usage: facegate-train {' '.join(argv)}")
    assert "options:" in usage


def test_the_console_script_lists_every_command_without_importing_them() -> None:
    """The real entry point in a fresh interpreter: the top-level help names every command, and builds in an
    interpreter that never imports torch (each command's module is imported only when it runs)."""
    code = (
        "import sys; from training.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "assert 'torch' not in sys.modules, 'the top-level help imported torch'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}  # one line per command
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    for name, command in COMMANDS.items():
        assert re.search(rf"^\s+{re.escape(name)}\s+{re.escape(command.help[:30])}", done.stdout, re.MULTILINE), name


def test_a_subcommand_runs_through_the_cli(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    main(["export-untrained", str(package), "--width", "0.125"])
    assert (package / "model.json").is_file() and "UNTRAINED" in (package / "MODEL_CARD.md").read_text()
    main(["export-onnx", str(package)])  # checks the graph against the network before writing it
    loaded = load_package(package, warn_untrained=False)
    assert loaded.onnx_graph == (package / "embedder.onnx").read_bytes() and len(loaded.onnx_graph) > 10_000


def test_no_training_module_keeps_a_command_line_of_its_own() -> None:
    """A tool with its own ``__main__`` would be one that ``facegate-train`` cannot reach."""
    own = set()
    for path in (REPO / "training").rglob("*.py"):
        relative = str(path.relative_to(REPO))
        if relative in {"training/cli.py", "training/__main__.py"}:
            continue
        if 'if __name__ == "__main__"' in path.read_text():
            own.add(relative)
    assert own == set()
