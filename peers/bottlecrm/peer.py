#!/usr/bin/env python3
"""BottleCRM (PyPI django-crm 1.35.0) as a local koppel peer.

Stdlib only; runs under any python3 >= 3.11.  BottleCRM itself needs Python >= 3.12,
so it lives in its own venv under $KOPPEL_CACHE/peers/bottlecrm/venv.

CLI:
  peer.py install
  peer.py template [--backend sqlite|postgresql]
  peer.py start --name NAME [--backend sqlite|postgresql] [--port P] [--workers N]
  peer.py stop --name NAME [--drop]
  peer.py status

Importable: install(), template(backend), start(name, backend, port=None, workers=2) -> dict,
stop(name, drop=False), status() -> list.
Progress goes to stderr; `start` prints one JSON line on stdout.  See README.md.
Helpers shared with the Tryton peer live in peers/_kit.py.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
_PEERS = os.path.dirname(HERE)
if _PEERS not in sys.path:
    sys.path.insert(0, _PEERS)  # peers/, for _kit
import _kit  # noqa: E402
from _kit import BACKENDS, PeerError  # noqa: E402

REQUIREMENTS = os.path.join(HERE, "requirements.txt")
SHIM = os.path.join(HERE, "koppel_bottlecrm_settings.py")
BOOTSTRAP = os.path.join(HERE, "bootstrap.py")
SETTINGS_MODULE = "koppel_bottlecrm_settings"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$")
NAME_RULE = "use 1-41 characters from A-Z a-z 0-9 _ - (starting with a letter or digit)"

# PostgreSQL: reached as a superuser for createdb/dropdb/role creation; the app runs as a
# NON-superuser role (a superuser silently bypasses BottleCRM's row-level security).
PG_HOST = os.environ.get("KOPPEL_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("KOPPEL_PG_PORT", "5432")
PG_SUPERUSER = os.environ.get("KOPPEL_PG_SUPERUSER", "postgres")
PG_APP_ROLE = os.environ.get("KOPPEL_CRM_PG_ROLE", "koppel_crm")
PG_APP_PASSWORD = os.environ.get("KOPPEL_CRM_PG_PASSWORD", "koppel_crm")
PG = _kit.Postgres(PG_HOST, PG_PORT, PG_SUPERUSER,
                   hint=f"Is PostgreSQL running on {PG_HOST}:{PG_PORT} with superuser {PG_SUPERUSER!r} "
                        f"(set KOPPEL_PG_HOST/KOPPEL_PG_PORT/KOPPEL_PG_SUPERUSER, PGPASSWORD)? Start it "
                        f"e.g. with `pg_ctlcluster --skip-systemctl-redirect 15 main start`.")

log = _kit.logger("bottlecrm")


# ---------------------------------------------------------------- paths

LAYOUT = _kit.Layout("bottlecrm", absolute=True)


def cache_root() -> str:
    return str(LAYOUT.root())


def venv_dir() -> str:
    return str(LAYOUT.venv_dir())


def venv_bin(name: str) -> str:
    return str(LAYOUT.venv_bin(name))


def templates_dir() -> str:
    return str(LAYOUT.templates_dir())


def instances_dir() -> str:
    return str(LAYOUT.instances_dir())


def instance_dir(name: str) -> str:
    return str(LAYOUT.instance_dir(name))


def _lock(name: str) -> contextlib.AbstractContextManager[None]:
    """Inter-process lock so parallel test runs do not build the same thing twice."""
    return _kit.file_lock(LAYOUT.root() / f".{name}.lock")


# ---------------------------------------------------------------- install

def _python_version(exe: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None  # e.g. a pyenv shim whose version is not selected
    try:
        major, minor = out.stdout.strip().split(".")
        return int(major), int(minor)
    except ValueError:
        return None


def find_python312() -> str:
    """A Python >= 3.12 interpreter, or PeerError (exit 2 on the CLI)."""
    candidates: list[str] = []
    env = os.environ.get("KOPPEL_PYTHON312")
    if env:
        v = _python_version(env)
        if v is None or v < (3, 12):
            raise PeerError(f"KOPPEL_PYTHON312={env!r} is not a working Python >= 3.12 "
                            f"(got {v}); point it at a python3.12 or python3.13 binary")
        return env
    for exe in ("python3.12", "python3.13"):
        path = shutil.which(exe)
        if path:
            candidates.append(path)
    roots: list[str] = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            roots.append(subprocess.run([pyenv, "root"], capture_output=True, text=True,
                                        timeout=30, check=False).stdout.strip())
    roots.append(os.environ.get("PYENV_ROOT") or "")
    roots.append(os.path.join(os.path.expanduser("~"), ".pyenv"))
    for root in [r for r in roots if r]:
        for minor in ("3.12", "3.13"):
            candidates += sorted(glob.glob(os.path.join(root, "versions", f"{minor}*", "bin", "python")))
    for exe in candidates:
        v = _python_version(exe)
        if v is not None and v >= (3, 12):
            return os.path.realpath(exe) if "/shims/" not in exe else exe
    raise PeerError("BottleCRM (django-crm 1.35.0) needs Python >= 3.12 and none was found. "
                    "Install Python 3.12, for example `pyenv install 3.12`, "
                    "or set KOPPEL_PYTHON312=/path/to/python3.12")


def install() -> str:
    """Create the venv and pip-install requirements.txt. Returns the venv path. Idempotent."""
    if not os.path.exists(REQUIREMENTS):
        raise PeerError(f"{REQUIREMENTS} is missing; restore it from git")
    req_hash = _kit.sha256_file(REQUIREMENTS)
    marker = LAYOUT.venv_dir() / ".koppel-requirements.sha256"
    gunicorn = LAYOUT.venv_bin("gunicorn")
    if _kit.stamp_matches(marker, req_hash, gunicorn):
        return venv_dir()
    with _lock("install"):
        if _kit.stamp_matches(marker, req_hash, gunicorn):
            return venv_dir()
        t0 = time.time()
        py = find_python312()
        log(f"installing BottleCRM into {venv_dir()} with {py} (about 1 min)")
        if os.path.exists(venv_dir()):
            shutil.rmtree(venv_dir())
        _kit.run([py, "-m", "venv", venv_dir()], what="creating the venv")
        _kit.run([venv_bin("python"), "-m", "pip", "install", "--no-input", "-q", "-r", REQUIREMENTS],
                 what=f"pip install -r {REQUIREMENTS} (check that pip can reach a package index)")
        with open(marker, "w") as fh:
            fh.write(req_hash + "\n")
        log(f"installed in {time.time() - t0:.1f} s")
    return venv_dir()


# ---------------------------------------------------------------- template

def template_hash() -> str:
    """sha256 (hex) over requirements.txt, the settings shim, bootstrap.py, peer.py and _kit.py."""
    return _kit.files_digest(Path(p) for p in (REQUIREMENTS, SHIM, BOOTSTRAP, os.path.abspath(__file__),
                                               _kit.SOURCE))


def _pg_tpl_db(h: str) -> str:
    return f"koppel_crm_tpl_{h[:8]}"


def _pg_instance_db(name: str) -> str:
    return "koppel_crm_" + name.lower().replace("-", "_")


def _template_paths(backend: str, h: str) -> tuple[str, str]:
    """The template database (SQLite file or PG database name) and its JSON record."""
    d = templates_dir()
    if backend == "sqlite":
        return os.path.join(d, f"sqlite-{h[:12]}.sqlite3"), os.path.join(d, f"sqlite-{h[:12]}.json")
    return _pg_tpl_db(h), os.path.join(d, f"postgresql-{h[:8]}.json")


def _base_env(backend: str, secret_key: str, db: str, *, debug: bool = False) -> dict[str, str]:
    """The Django environment; DB is the SQLite file or the PostgreSQL database name."""
    env = dict(os.environ)
    for k in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL", "CACHE_URL", "ENV_TYPE"):
        env.pop(k, None)
    env.update({
        "PYTHONPATH": HERE,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "SECRET_KEY": secret_key,
        "DEBUG": "true" if debug else "false",
        "ENV_TYPE": "dev",  # "prod" would import crm/server_settings.py and demand a public DOMAIN_NAME
        "KOPPEL_CRM_BACKEND": backend,
        "CELERY_BROKER_URL": "memory://",
        "CELERY_RESULT_BACKEND": "cache+memory://",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # the shim lives in the repo: no __pycache__ there
    })
    if backend == "sqlite":
        env["KOPPEL_CRM_SQLITE"] = db
    else:
        env.update({"DBNAME": db, "DBUSER": PG_APP_ROLE, "DBPASSWORD": PG_APP_PASSWORD,
                    "DBHOST": PG_HOST, "DBPORT": PG_PORT, "DB_POOL_ENABLED": "true"})
    return env


def _pg_dropdb(db: str) -> None:
    _kit.run(["dropdb", "--if-exists", "--force", *PG.conn_args(), db], what=f"dropdb {db}")


def _pg_ensure_role() -> None:
    sql = (f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_APP_ROLE}') THEN "
           f"CREATE ROLE {PG_APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{PG_APP_PASSWORD}'; "
           f"END IF; END$$;")
    _kit.psql(PG, sql)
    out = _kit.psql(PG, f"SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = '{PG_APP_ROLE}'")
    if out != "f":
        raise PeerError(f"PostgreSQL role {PG_APP_ROLE!r} is a superuser or has BYPASSRLS, so BottleCRM's "
                        f"row-level security would be bypassed; set KOPPEL_CRM_PG_ROLE to another name "
                        f"or `ALTER ROLE {PG_APP_ROLE} NOSUPERUSER NOBYPASSRLS`")


def _template_ready(backend: str, h: str) -> dict[str, Any] | None:
    db, meta_path = _template_paths(backend, h)
    meta = _kit.read_json(meta_path)
    if not meta or not isinstance(meta, dict):
        return None
    if backend == "sqlite" and not os.path.exists(db):
        return None
    if backend == "postgresql" and not _kit.pg_db_exists(PG, db):
        return None
    return meta


def template(backend: str = "sqlite") -> dict[str, Any]:
    """Build (once) the migrated + bootstrapped template DB; return its JSON record."""
    _kit.check_backend(backend)
    install()
    h = template_hash()
    meta = _template_ready(backend, h)
    if meta:
        return meta
    with _lock(f"template-{backend}"):
        meta = _template_ready(backend, h)
        if meta:
            return meta
        return _build_template(backend, h)


def _build_template(backend: str, h: str) -> dict[str, Any]:
    t0 = time.time()
    db, meta_path = _template_paths(backend, h)
    os.makedirs(templates_dir(), exist_ok=True)
    work = os.path.join(templates_dir(), f"work-{backend}-{h[:8]}")  # cwd: server.log etc. land here
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    secret_key = secrets.token_urlsafe(48)  # 64 characters
    if backend == "sqlite":
        build_db = os.path.join(work, "template.sqlite3")
    else:
        _pg_ensure_role()
        build_db = db
        _pg_dropdb(build_db)
        _kit.run(["createdb", *PG.conn_args(), "-O", PG_APP_ROLE, build_db], what=f"createdb {build_db}")
    env = _base_env(backend, secret_key, build_db, debug=True)
    log(f"building {backend} template {h[:8]}: django-admin migrate (about 3 min)")
    _kit.run([venv_bin("django-admin"), "migrate", "--noinput"], env=env, cwd=work,
             what="django-admin migrate")
    t_mig = time.time() - t0
    log(f"migrated in {t_mig:.0f} s; bootstrapping org, user and token")
    out = _kit.run([venv_bin("python"), BOOTSTRAP], env=env, cwd=work, what="bootstrap.py")
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise PeerError(f"bootstrap.py printed no JSON; output:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    meta: dict[str, Any] = json.loads(lines[-1])
    meta.update({
        "template_hash": h,
        "backend": backend,
        "secret_key": secret_key,
        "django_crm_version": "1.35.0",
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.time() - t0, 1),
    })
    meta["template_db"] = db
    if backend == "sqlite":
        os.replace(build_db, db)
    _kit.write_json_atomic(meta_path, meta)
    shutil.rmtree(work, ignore_errors=True)
    _prune_templates(backend, h)
    log(f"{backend} template ready in {time.time() - t0:.0f} s: {db}")
    return meta


def _prune_templates(backend: str, h: str) -> None:
    """Remove templates of older hashes for this backend."""
    for path in glob.glob(os.path.join(templates_dir(), f"{backend}-*.json")):
        if h[:8] in os.path.basename(path):
            continue
        old = _kit.read_json(path) or {}
        try:
            if backend == "sqlite":
                if old.get("template_db"):
                    with contextlib.suppress(OSError):
                        os.remove(old["template_db"])
            elif old.get("template_db"):
                _pg_dropdb(old["template_db"])
            os.remove(path)
        except (OSError, PeerError) as exc:
            log(f"could not prune old template {path}: {exc}")


# ---------------------------------------------------------------- start / stop

def _http(url: str, token: str | None = None, timeout: float = 10.0) -> tuple[int | None, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status: int = resp.status
            body: bytes = resp.read()
            return status, body
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return None, str(exc).encode()


def _tail(path: str, n: int = 25) -> str:
    return _kit.log_tail(path, n, keepends=True)


def _pid_alive(pid: int) -> bool:
    if not _kit.pid_exists(pid):
        return False
    if _kit.reap(pid):
        return False  # a zombie child of ours counts as dead
    return not _kit.is_zombie(pid)


def _is_our_gunicorn(pid: int, inst: str, name: str) -> bool:
    """Guard against a recycled pid: the process must be this instance's gunicorn."""
    raw = _kit.cmdline(pid)
    if raw is None:
        return _pid_alive(pid)  # no /proc: trust the pidfile
    cmd = raw.decode(errors="replace")
    return "gunicorn" in cmd and (inst in cmd or f"koppel-bottlecrm-{name}" in cmd)


def _instance_pid(name: str) -> int | None:
    inst = instance_dir(name)
    for pid in _kit.recorded_pids(os.path.join(inst, "gunicorn.pid"), os.path.join(inst, "instance.json")):
        if _pid_alive(pid) and _is_our_gunicorn(pid, inst, name):
            return pid
    return None


def start(name: str, backend: str = "sqlite", port: int | None = None, workers: int = 2,
          timeout: float = 60.0, keep: bool = False) -> dict[str, Any]:
    """Start a fresh instance NAME from the template; returns the JSON record that the CLI prints.

    With `keep`, an existing SQLite database of NAME is started again instead of a fresh copy."""
    _kit.check_name(name, NAME_RE, NAME_RULE)
    _kit.check_backend(backend)
    t0 = time.time()
    meta = template(backend)
    stop(name, drop=False, quiet=True)
    if port:  # fail fast instead of health-checking somebody else's server
        busy = _kit.port_busy(int(port))
        if busy is not None:
            raise PeerError(f"port {port} on 127.0.0.1 is already in use ({busy}); "
                            f"pick another --port or omit it to get a free one")
    inst = instance_dir(name)
    kept = keep and backend == "sqlite" and os.path.exists(os.path.join(inst, "db.sqlite3"))
    if not kept:
        shutil.rmtree(inst, ignore_errors=True)
        os.makedirs(inst)
    if backend == "sqlite":
        db = os.path.join(inst, "db.sqlite3")
        if not kept:
            shutil.copyfile(meta["template_db"], db)
    else:
        db = _pg_instance_db(name)
        _pg_dropdb(db)
        _kit.run(["createdb", *PG.conn_args(), "-O", PG_APP_ROLE, "-T", meta["template_db"], db],
                 what=f"createdb -T {meta['template_db']} {db}")
    env = _base_env(backend, meta["secret_key"], db)
    port = int(port) if port else _kit.free_port()
    ctl = os.path.join(inst, "gunicorn.ctl")
    cmd = [venv_bin("gunicorn"), "crm.wsgi:application",
           "-b", f"127.0.0.1:{port}", "-w", str(int(workers)),
           "--pid", os.path.join(inst, "gunicorn.pid"),
           "--error-logfile", os.path.join(inst, "gunicorn.log"),
           "--access-logfile", os.path.join(inst, "access.log"),
           "--timeout", "120", "--graceful-timeout", "5",
           "--name", f"koppel-bottlecrm-{name}"]
    # gunicorn >= 24 opens a control socket in ~/.gunicorn by default: keep it in the instance
    # (AF_UNIX paths are limited to ~107 bytes; disable it when the path is too long).
    cmd += ["--control-socket", ctl] if len(ctl.encode()) < 100 else ["--no-control-socket"]
    stdout_log = os.path.join(inst, "stdout.log")
    proc = _kit.spawn(cmd, cwd=inst, env=env, output=stdout_log, append=True)
    url = f"http://127.0.0.1:{port}"
    record = {"url": url, "token": meta["token"], "org_id": meta["org_id"], "pid": proc.pid,
              "port": port, "backend": backend, "instance_dir": inst, "name": name, "database": db,
              "setup": {k: v for k, v in meta.items() if k != "secret_key"}}
    _kit.write_json_atomic(os.path.join(inst, "instance.json"), record)
    log(f"starting {name} ({backend}) on {url}, pid {proc.pid}")
    deadline = time.time() + timeout
    last = "no answer yet"
    while True:
        if proc.poll() is not None:
            raise PeerError(f"gunicorn for {name} exited with code {proc.returncode} before it became "
                            f"ready (is port {port} in use? see {inst}):\n"
                            f"{_tail(os.path.join(inst, 'gunicorn.log'))}{_tail(stdout_log, 10)}")
        code, body = _http(url + "/healthz/", timeout=5)
        if code == 200:
            code, body = _http(url + "/api/accounts/?limit=1", meta["token"], timeout=30)
            if code == 200:
                break
            last = f"GET /api/accounts/ with the PAT -> {code}: {body[:300]!r}"
        else:
            last = f"GET /healthz/ -> {code}: {body[:300]!r}"
        if time.time() > deadline:
            stop(name, quiet=True)
            raise PeerError(f"BottleCRM instance {name} not ready after {timeout:.0f} s ({last}). "
                            f"Last log lines from {inst}:\n{_tail(os.path.join(inst, 'gunicorn.log'))}"
                            f"{_tail(os.path.join(inst, 'server.log'), 10)}")
        time.sleep(0.3)
    log(f"ready in {time.time() - t0:.1f} s")
    return record


def stop(name: str, drop: bool = False, quiet: bool = False) -> bool:
    """Stop instance NAME (SIGTERM, 10 s, then SIGKILL). Returns True if something was running."""
    _kit.check_name(name, NAME_RE, NAME_RULE)
    inst = instance_dir(name)
    pid = _instance_pid(name)
    was_running = pid is not None
    if pid:
        if not quiet:
            log(f"stopping {name} (pid {pid})")
        _kit.terminate(pid, _pid_alive, kill_group=True,
                       on_sigkill=lambda: log(f"{name}: pid {pid} ignored SIGTERM for 10 s; sending SIGKILL"))
    elif not quiet:
        log(f"{name} is not running")
    with contextlib.suppress(OSError):
        os.remove(os.path.join(inst, "gunicorn.pid"))
    if drop:
        meta = _kit.read_json(os.path.join(inst, "instance.json")) or {}
        if meta.get("backend") == "postgresql":
            _pg_dropdb(meta.get("database") or _pg_instance_db(name))
        shutil.rmtree(inst, ignore_errors=True)
        if not quiet:
            log(f"dropped {name}")
    return was_running


def status() -> list[dict[str, Any]]:
    out = []
    for path in sorted(glob.glob(os.path.join(instances_dir(), "*", "instance.json"))):
        name = os.path.basename(os.path.dirname(path))
        rec = _kit.read_json(path) or {}
        pid = _instance_pid(name) if NAME_RE.match(name) else None
        if pid:
            out.append({k: rec.get(k) for k in ("name", "url", "port", "pid", "backend", "org_id",
                                                  "token", "instance_dir", "database")})
    return out


# ---------------------------------------------------------------- CLI

def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="peer.py", description="BottleCRM peer for koppel tests")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help="create the venv and install requirements.txt")
    p = sub.add_parser("template", help="build the migrated + bootstrapped template DB")
    p.add_argument("--backend", choices=BACKENDS, default="sqlite")
    p = sub.add_parser("start", help="start instance NAME; prints one JSON line")
    p.add_argument("--keep", action="store_true", help="reuse NAME's SQLite database if it exists")
    p.add_argument("--name", required=True)
    p.add_argument("--backend", choices=BACKENDS, default="sqlite")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=60.0)
    p = sub.add_parser("stop", help="stop instance NAME")
    p.add_argument("--name", required=True)
    p.add_argument("--drop", action="store_true", help="also delete its folder / database")
    sub.add_parser("status", help="running instances as JSON")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "install":
            log(f"venv ready: {install()}")
        elif args.cmd == "template":
            meta = template(args.backend)
            print(json.dumps({k: v for k, v in meta.items() if k != "secret_key"}))
        elif args.cmd == "start":
            print(json.dumps(start(args.name, args.backend, args.port, args.workers, args.timeout,
                                   keep=args.keep)),
                  flush=True)
        elif args.cmd == "stop":
            stop(args.name, drop=args.drop)
        elif args.cmd == "status":
            print(json.dumps(status()))
    except PeerError as exc:
        print(f"bottlecrm peer: {exc}", file=sys.stderr)
        return 2 if "Python >= 3.12" in str(exc) else 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
