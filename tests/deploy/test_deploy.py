"""deploy/: the container recipe, the compose file and the systemd units, checked without a container
engine: each parses, follows the rules below, runs only koppel commands and options that exist, and
copies only files that exist."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from koppel.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"


# --- koppel's command line, as the recipes call it ---

def parse_koppel(argv: list[str]) -> Any:
    """The parsed context of `koppel ARGV`'s innermost command; raises when a command or an option
    does not exist or a value does not fit (nothing runs)."""
    command: Any = typer.main.get_command(app)
    name, args, parent = "koppel", list(argv), None
    while True:
        context = command.make_context(name, list(args), parent=parent)
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            return context
        valued = {opt for p in command.params if not getattr(p, "is_flag", False) and not getattr(p, "count", False)
                  for opt in p.opts if opt.startswith("-")}
        i = 0
        while i < len(args) and args[i].startswith("-"):
            i += 2 if args[i] in valued else 1
        if i == len(args):  # a group that runs on its own (`koppel match`)
            return context
        sub = command.get_command(context, args[i])
        assert sub is not None, f"`koppel {' '.join(argv)}`: no command {args[i]!r} (there are {sorted(subcommands)})"
        name, args, parent, command = args[i], args[i + 1:], context, sub


def koppel_commands() -> Iterator[tuple[str, list[str]]]:
    """(where, argv after `koppel`) of every koppel command the recipes run."""
    stages = dockerfile_stages()
    final = stages[-1]
    entry = exec_form(final, "ENTRYPOINT")
    assert entry == ["koppel"], "the image's entry point is koppel itself"
    yield "Dockerfile CMD", exec_form(final, "CMD")
    for name, service in compose()["services"].items():
        if "command" in service:
            command = service["command"]
            assert isinstance(command, list), f"compose {name}: command in exec form (a list)"
            yield f"compose {name}", command
    for unit, sections in units().items():
        for key, value in sections.get("Service", []):
            if key.startswith("Exec"):
                words = shlex.split(value)
                if Path(words[0]).name == "koppel":
                    yield f"{unit} {key}", words[1:]


# --- the Dockerfile ---

def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and not pending.endswith("\\")):
            continue
        pending = f"{pending[:-1]} {stripped}" if pending.endswith("\\") else stripped
        if not pending.endswith("\\"):
            word, _, rest = pending.partition(" ")
            found.append((word.upper(), rest.strip()))
            pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions((DEPLOY / "Dockerfile").read_text()):
        if instruction[0] == "FROM":
            stages.append([])
        assert stages, f"{instruction[0]} before the first FROM"
        stages[-1].append(instruction)
    return stages


def exec_form(stage: list[tuple[str, str]], word: str) -> list[str]:
    values = [rest for kind, rest in stage if kind == word]
    assert len(values) == 1, f"one {word} in the final stage"
    parsed = json.loads(values[0])  # exec form: a signal reaches koppel, not a shell
    assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed)
    return parsed


def test_the_recipe_is_multi_stage_pinned_and_runs_as_a_user_of_its_own() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: the build tools stay out of the image"
    names = []
    for stage in stages:
        base = stage[0][1].split()
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim-\w+", base[0]), f"{base[0]}: Python 3.11 (pyproject), a named release"
        names.append(base[2] if len(base) == 3 and base[1].upper() == "AS" else None)
    for stage in stages:
        for kind, rest in stage:
            assert kind != "ADD", "COPY, not ADD (no URLs or archives unpacked on the fly)"
            if kind == "RUN" and "pip install" in rest:
                for install in rest.split("&&"):
                    if "pip install" in install:
                        assert "-c constraints.txt" in install, f"pins from constraints.txt: {install.strip()}"
                        assert " -e " not in f" {install} " and "[dev]" not in install, "no editable install, no dev tools"
            if kind == "COPY" and "--from=" in rest:
                source = re.search(r"--from=(\S+)", rest)
                assert source and source.group(1) in names, f"COPY --from a stage of this file: {rest}"
            if kind == "WORKDIR":
                assert rest.startswith("/"), "WORKDIR absolute"
    final = stages[-1]
    users = [rest for kind, rest in final if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as a user of its own"
    checks = [rest for kind, rest in final if kind == "HEALTHCHECK"]
    assert len(checks) == 1 and "/health" in checks[0]
    command = json.loads(checks[0][checks[0].index("CMD") + 3:].strip())
    assert isinstance(command, list), "HEALTHCHECK CMD in exec form"
    port = re.search(r"127\.0\.0\.1:(\d+)/health", checks[0])
    exposed = [rest for kind, rest in final if kind == "EXPOSE"]
    serve = exec_form(final, "CMD")
    assert port and exposed == [port.group(1)] and serve[serve.index("--port") + 1] == port.group(1)


def test_every_file_the_recipe_copies_exists_and_reaches_the_build() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    included = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore, "the build context is what the recipe names, nothing else (.venv, artifacts)"
    copied = 0
    for stage in dockerfile_stages():
        for kind, rest in stage:
            if kind != "COPY" or "--from=" in rest:
                continue
            *sources, _target = [w for w in rest.split() if not w.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert source.rstrip("/") in included, f"COPY {source}: excluded by Dockerfile.dockerignore"
                copied += 1
    assert copied >= 3
    # the package data the wheel needs is among what is copied (templates, migrations, catalogues)
    for needed in ("src/koppel/web/templates", "src/koppel/store/migrations", "src/koppel/i18n/locales"):
        assert (ROOT / needed).is_dir()


# --- the compose file ---

SERVICE_KEYS = {"build", "image", "restart", "environment", "volumes", "secrets", "logging", "command",
                "healthcheck", "depends_on", "ports", "deploy", "stop_grace_period", "entrypoint", "user"}


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_the_compose_file_starts_postgres_the_workspace_and_the_workers() -> None:
    data = compose()
    assert set(data) <= {"name", "services", "volumes", "secrets", "networks"} | {k for k in data if k.startswith("x-")}
    services = data["services"]
    assert {"postgres", "migrate", "serve", "worker"} <= set(services)
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, f"{name}: unknown keys {set(service) - SERVICE_KEYS}"
        for other, condition in (service.get("depends_on") or {}).items():
            assert other in services and condition["condition"] in (
                "service_started", "service_healthy", "service_completed_successfully")
        for secret in service.get("secrets", []):
            assert secret in data["secrets"]
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in data["volumes"], volume
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "/health" in " ".join(services["serve"]["healthcheck"]["test"])
    assert services["serve"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["deploy"]["replicas"] >= 2, "workers on Procrastinate: more than one"
    for name in ("migrate", "serve", "worker"):
        build = services[name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
        assert services[name]["environment"]["KOPPEL_LOG_FORMAT"] == "json"  # for the log shipper
        published = [p for p in services[name].get("ports", [])]
        assert all(p.startswith("127.0.0.1:") for p in published), "only the proxy on this host reaches serve"


def test_the_files_compose_mounts_are_the_operators_and_never_committed() -> None:
    data = compose()
    mounted = [v.split(":")[0] for s in data["services"].values() for v in s.get("volumes", []) if v.startswith("./")]
    mounted += [s["file"] for s in data["secrets"].values()]
    assert mounted
    for source in mounted:
        path = DEPLOY / source
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", str(path)], cwd=ROOT)
        assert ignored.returncode == 0, f"{source}: the operator's file (a secret or their config) must be git-ignored"


def test_every_koppel_environment_variable_set_is_read_by_koppel() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "koppel").rglob("*.py"))
    named = set()
    for service in compose()["services"].values():
        named |= {k for k in service.get("environment") or {} if k.startswith("KOPPEL_")}
    for sections in units().values():
        for key, value in sections.get("Service", []):
            if key == "Environment":
                named |= {word.split("=")[0] for word in shlex.split(value)}
    assert {"KOPPEL_CONFIG", "KOPPEL_LOG_FORMAT", "KOPPEL_ROOT_PATH"} <= named
    for name in named:
        assert f'"{name}"' in source or f"'{name}'" in source, f"{name} is set but koppel reads no such variable"


# --- the systemd units ---

def units() -> dict[str, dict[str, list[tuple[str, str]]]]:
    """Every unit file: section -> (key, value) in order (keys may repeat)."""
    found: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for path in sorted(UNITS.iterdir()):
        sections: dict[str, list[tuple[str, str]]] = {}
        current = None
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                current = line.strip("[]")
                assert current not in sections, f"{path.name}: [{current}] twice"
                sections[current] = []
                continue
            assert current is not None and "=" in line, f"{path.name}: {line!r} outside a section or not key=value"
            key, _, value = line.partition("=")
            sections[current].append((key.strip(), value.strip()))
        found[path.name] = sections
    return found


def test_the_units_run_koppel_as_its_user_and_restart_it() -> None:
    found = units()
    assert {"koppel-serve.service", "koppel-worker@.service", "koppel-migrate.service", "koppel.target"} <= set(found)
    for name, sections in found.items():
        assert {"Unit", "Install"} <= set(sections), name
        values = {k: v for section in sections.values() for k, v in section}
        assert values.get("Description"), name
        for key in ("Wants", "After", "Requires", "PartOf", "WantedBy"):
            for other in " ".join(v for k, v in (p for s in sections.values() for p in s) if k == key).split():
                if other.startswith("koppel"):
                    template = re.sub(r"@[^.]+\.", "@.", other)
                    assert other in found or template in found, f"{name}: {key}={other}, no such unit here"
        if not name.endswith(".service"):
            continue
        service = dict(sections["Service"])
        assert service["User"] not in ("root", "0") and service["Group"], name
        assert service.get("Restart") in ("on-failure", "always"), name
        assert Path(service["ExecStart"].split()[0]).is_absolute(), f"{name}: ExecStart with an absolute path"
        assert Path(service["WorkingDirectory"]).is_absolute()
        assert "KOPPEL_LOG_FORMAT=json" in service["Environment"], f"{name}: JSON logs to the journal"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    koppel = Path(sys.executable).parent / "koppel"  # installed where the image and the units install it
    for path in UNITS.iterdir():
        text = path.read_text().replace("/opt/koppel/bin/koppel", str(koppel))
        target = tmp_path / (path.name.replace("@.", "@1.") if "@." in path.name else path.name)
        target.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    said = result.stdout + result.stderr
    assert result.returncode == 0 and "Unknown" not in said and "ignoring" not in said, said


# --- every command they run exists, with its options ---

def test_every_koppel_command_they_run_exists_with_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KOPPEL_ROOT_PATH", "KOPPEL_FORWARDED_ALLOW_IPS", "KOPPEL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    seen = {}
    for where, argv in koppel_commands():
        try:
            context = parse_koppel(argv)
        except Exception as exc:
            pytest.fail(f"{where}: `koppel {' '.join(argv)}` does not parse: {exc}")
        seen[where] = (context.info_name, context.params)
    commands = {command for command, _ in seen.values()}
    assert {"serve", "worker", "migrate"} <= commands, seen
    assert seen["koppel-worker@.service ExecStart"][1]["concurrency"] >= 1
    assert seen["koppel-serve.service ExecStart"][1]["forwarded_allow_ips"] == "127.0.0.1,::1"


def test_the_checker_catches_what_does_not_exist() -> None:
    assert parse_koppel(["worker", "--concurrency", "2"]).params["concurrency"] == 2
    assert parse_koppel(["users", "add", "ann", "--role", "admin"]).info_name == "add"
    for wrong in (["scheduler"], ["worker", "--replicas", "2"], ["serve", "--root", "/x"], ["worker", "--concurrency", "0"]):
        with pytest.raises(Exception):  # noqa: B017 — the CLI's own usage errors
            parse_koppel(wrong)
