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
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")
SHIM = os.path.join(HERE, "koppel_bottlecrm_settings.py")
BOOTSTRAP = os.path.join(HERE, "bootstrap.py")
SETTINGS_MODULE = "koppel_bottlecrm_settings"
BACKENDS = ("sqlite", "postgresql")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$")

# PostgreSQL: reached as a superuser for createdb/dropdb/role creation; the app runs as a
# NON-superuser role (a superuser silently bypasses BottleCRM's row-level security).
PG_HOST = os.environ.get("KOPPEL_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("KOPPEL_PG_PORT", "5432")
PG_SUPERUSER = os.environ.get("KOPPEL_PG_SUPERUSER", "postgres")
PG_APP_ROLE = os.environ.get("KOPPEL_CRM_PG_ROLE", "koppel_crm")
PG_APP_PASSWORD = os.environ.get("KOPPEL_CRM_PG_PASSWORD", "koppel_crm")


class PeerError(Exception):
    """An error whose message says what to do."""


def log(msg: str) -> None:
    print(f"[bottlecrm] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- paths

def cache_root() -> str:
    base = os.environ.get("KOPPEL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "koppel")
    return os.path.join(os.path.abspath(base), "peers", "bottlecrm")


def venv_dir() -> str:
    return os.path.join(cache_root(), "venv")


def venv_bin(name: str) -> str:
    return os.path.join(venv_dir(), "bin", name)


def templates_dir() -> str:
    return os.path.join(cache_root(), "templates")


def instances_dir() -> str:
    return os.path.join(cache_root(), "instances")


def instance_dir(name: str) -> str:
    return os.path.join(instances_dir(), name)


def _check_name(name: str) -> str:
    if not name or not NAME_RE.match(name):
        raise PeerError(f"invalid instance name {name!r}: use 1-41 characters from A-Z a-z 0-9 _ - "
                        "(starting with a letter or digit)")
    return name


def _check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise PeerError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    return backend


@contextlib.contextmanager
def _lock(name: str):
    """Inter-process lock so parallel test runs do not build the same thing twice."""
    os.makedirs(cache_root(), exist_ok=True)
    with open(os.path.join(cache_root(), f".{name}.lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sha256_file(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _run(cmd, *, env=None, cwd=None, what=None, capture=True, timeout=None):
    """Run a command; on failure raise PeerError with the tail of its output."""
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, timeout=timeout, text=True,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None)
    except FileNotFoundError as exc:
        raise PeerError(f"{what or cmd[0]}: command not found ({exc.filename}); install it or fix PATH")
    if proc.returncode != 0:
        tail = "\n".join(((proc.stdout or "") + (proc.stderr or "")).strip().splitlines()[-30:])
        raise PeerError(f"{what or ' '.join(cmd)} failed (exit {proc.returncode}):\n{tail}")
    return proc


# ---------------------------------------------------------------- install

def _python_version(exe: str):
    try:
        out = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
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
    candidates = []
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
    roots = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            roots.append(subprocess.run([pyenv, "root"], capture_output=True, text=True,
                                        timeout=30).stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
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
    req_hash = _sha256_file(REQUIREMENTS)
    marker = os.path.join(venv_dir(), ".koppel-requirements.sha256")

    def up_to_date():
        try:
            with open(marker) as fh:
                return fh.read().strip() == req_hash and os.path.exists(venv_bin("gunicorn"))
        except OSError:
            return False

    if up_to_date():
        return venv_dir()
    with _lock("install"):
        if up_to_date():
            return venv_dir()
        t0 = time.time()
        py = find_python312()
        log(f"installing BottleCRM into {venv_dir()} with {py} (about 1 min)")
        if os.path.exists(venv_dir()):
            shutil.rmtree(venv_dir())
        _run([py, "-m", "venv", venv_dir()], what="creating the venv")
        _run([venv_bin("python"), "-m", "pip", "install", "--no-input", "-q", "-r", REQUIREMENTS],
             what=f"pip install -r {REQUIREMENTS} (check that pip can reach a package index)")
        with open(marker, "w") as fh:
            fh.write(req_hash + "\n")
        log(f"installed in {time.time() - t0:.1f} s")
    return venv_dir()


# ---------------------------------------------------------------- template

def template_hash() -> str:
    h = hashlib.sha256()
    for path in (REQUIREMENTS, SHIM, BOOTSTRAP, os.path.abspath(__file__)):
        with open(path, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def _pg_tpl_db(h: str) -> str:
    return f"koppel_crm_tpl_{h[:8]}"


def _pg_instance_db(name: str) -> str:
    return "koppel_crm_" + name.lower().replace("-", "_")


def _template_paths(backend: str, h: str):
    d = templates_dir()
    if backend == "sqlite":
        return os.path.join(d, f"sqlite-{h[:12]}.sqlite3"), os.path.join(d, f"sqlite-{h[:12]}.json")
    return _pg_tpl_db(h), os.path.join(d, f"postgresql-{h[:8]}.json")


def _base_env(backend: str, secret_key: str, *, sqlite_path=None, dbname=None, debug=False) -> dict:
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
        env["KOPPEL_CRM_SQLITE"] = sqlite_path
    else:
        env.update({"DBNAME": dbname, "DBUSER": PG_APP_ROLE, "DBPASSWORD": PG_APP_PASSWORD,
                    "DBHOST": PG_HOST, "DBPORT": PG_PORT, "DB_POOL_ENABLED": "true"})
    return env


def _pg(args, what, db="postgres"):
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PG_HOST, "-p", PG_PORT,
           "-U", PG_SUPERUSER, "-d", db] + args
    try:
        return _run(cmd, what=what)
    except PeerError as exc:
        raise PeerError(f"{exc}\nIs PostgreSQL running on {PG_HOST}:{PG_PORT} with superuser "
                        f"{PG_SUPERUSER!r} (set KOPPEL_PG_HOST/KOPPEL_PG_PORT/KOPPEL_PG_SUPERUSER, "
                        f"PGPASSWORD)? Start it e.g. with `pg_ctlcluster --skip-systemctl-redirect "
                        f"15 main start`.") from None


def _pg_db_exists(db: str) -> bool:
    out = _pg(["-tA", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{db}'"], "psql (list databases)")
    return out.stdout.strip() == "1"


def _pg_dropdb(db: str) -> None:
    _run(["dropdb", "--if-exists", "--force", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_SUPERUSER, db],
         what=f"dropdb {db}")


def _pg_ensure_role() -> None:
    sql = (f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_APP_ROLE}') THEN "
           f"CREATE ROLE {PG_APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{PG_APP_PASSWORD}'; "
           f"END IF; END$$;")
    _pg(["-c", sql], f"creating PostgreSQL role {PG_APP_ROLE}")
    out = _pg(["-tA", "-c", f"SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = '{PG_APP_ROLE}'"],
              "checking the app role")
    if out.stdout.strip() != "f":
        raise PeerError(f"PostgreSQL role {PG_APP_ROLE!r} is a superuser or has BYPASSRLS, so BottleCRM's "
                        f"row-level security would be bypassed; set KOPPEL_CRM_PG_ROLE to another name "
                        f"or `ALTER ROLE {PG_APP_ROLE} NOSUPERUSER NOBYPASSRLS`")


def _read_json(path: str):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _write_json_atomic(path: str, data) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def _template_ready(backend: str, h: str):
    db, meta_path = _template_paths(backend, h)
    meta = _read_json(meta_path)
    if not meta:
        return None
    if backend == "sqlite" and not os.path.exists(db):
        return None
    if backend == "postgresql" and not _pg_db_exists(db):
        return None
    return meta


def template(backend: str = "sqlite") -> dict:
    """Build (once) the migrated + bootstrapped template DB; return its JSON record."""
    _check_backend(backend)
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


def _build_template(backend: str, h: str) -> dict:
    t0 = time.time()
    db, meta_path = _template_paths(backend, h)
    os.makedirs(templates_dir(), exist_ok=True)
    work = os.path.join(templates_dir(), f"work-{backend}-{h[:8]}")  # cwd: server.log etc. land here
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    secret_key = secrets.token_urlsafe(48)  # 64 characters
    if backend == "sqlite":
        build_db = os.path.join(work, "template.sqlite3")
        env = _base_env(backend, secret_key, sqlite_path=build_db, debug=True)
    else:
        _pg_ensure_role()
        build_db = db
        _pg_dropdb(build_db)
        _run(["createdb", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_SUPERUSER, "-O", PG_APP_ROLE, build_db],
             what=f"createdb {build_db}")
        env = _base_env(backend, secret_key, dbname=build_db, debug=True)
    log(f"building {backend} template {h[:8]}: django-admin migrate (about 3 min)")
    _run([venv_bin("django-admin"), "migrate", "--noinput"], env=env, cwd=work,
         what="django-admin migrate")
    t_mig = time.time() - t0
    log(f"migrated in {t_mig:.0f} s; bootstrapping org, user and token")
    out = _run([venv_bin("python"), BOOTSTRAP], env=env, cwd=work, what="bootstrap.py")
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise PeerError(f"bootstrap.py printed no JSON; output:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    meta = json.loads(lines[-1])
    meta.update({
        "template_hash": h,
        "backend": backend,
        "secret_key": secret_key,
        "django_crm_version": "1.35.0",
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.time() - t0, 1),
    })
    if backend == "sqlite":
        meta["template_db"] = db
        os.replace(build_db, db)
    else:
        meta["template_db"] = db
    _write_json_atomic(meta_path, meta)
    shutil.rmtree(work, ignore_errors=True)
    _prune_templates(backend, h)
    log(f"{backend} template ready in {time.time() - t0:.0f} s: {db}")
    return meta


def _prune_templates(backend: str, h: str) -> None:
    """Remove templates of older hashes for this backend."""
    for path in glob.glob(os.path.join(templates_dir(), f"{backend}-*.json")):
        if h[:8] in os.path.basename(path):
            continue
        old = _read_json(path) or {}
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

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(url: str, token=None, timeout=10.0):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return None, str(exc).encode()


def _tail(path: str, n: int = 25) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-n:])
    except OSError:
        return "(no log)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as dead
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except OSError:
        pass
    return True


def _is_our_gunicorn(pid: int, inst: str, name: str) -> bool:
    """Guard against a recycled pid: the process must be this instance's gunicorn."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().decode(errors="replace")
    except OSError:
        return _pid_alive(pid)  # no /proc: trust the pidfile
    return "gunicorn" in cmd and (inst in cmd or f"koppel-bottlecrm-{name}" in cmd)


def _instance_pid(name: str):
    inst = instance_dir(name)
    for path in (os.path.join(inst, "gunicorn.pid"), os.path.join(inst, "instance.json")):
        try:
            with open(path) as fh:
                raw = fh.read().strip()
            pid = int(json.loads(raw)["pid"]) if path.endswith(".json") else int(raw)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _pid_alive(pid) and _is_our_gunicorn(pid, inst, name):
            return pid
    return None


def start(name: str, backend: str = "sqlite", port: int | None = None, workers: int = 2,
          timeout: float = 60.0, keep: bool = False) -> dict:
    """Start a fresh instance NAME from the template; returns the JSON record that the CLI prints.

    With `keep`, an existing SQLite database of NAME is started again instead of a fresh copy."""
    _check_name(name)
    _check_backend(backend)
    t0 = time.time()
    meta = template(backend)
    stop(name, drop=False, quiet=True)
    if port:  # fail fast instead of health-checking somebody else's server
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", int(port)))
            except OSError as exc:
                raise PeerError(f"port {port} on 127.0.0.1 is already in use ({exc.strerror}); "
                                f"pick another --port or omit it to get a free one") from None
    inst = instance_dir(name)
    kept = keep and backend == "sqlite" and os.path.exists(os.path.join(inst, "db.sqlite3"))
    if not kept:
        shutil.rmtree(inst, ignore_errors=True)
        os.makedirs(inst)
    if backend == "sqlite":
        db = os.path.join(inst, "db.sqlite3")
        if not kept:
            shutil.copyfile(meta["template_db"], db)
        env = _base_env(backend, meta["secret_key"], sqlite_path=db)
    else:
        db = _pg_instance_db(name)
        _pg_dropdb(db)
        _run(["createdb", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_SUPERUSER, "-O", PG_APP_ROLE,
              "-T", meta["template_db"], db], what=f"createdb -T {meta['template_db']} {db}")
        env = _base_env(backend, meta["secret_key"], dbname=db)
    port = int(port) if port else _free_port()
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
    with open(stdout_log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=inst, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    record = {"url": url, "token": meta["token"], "org_id": meta["org_id"], "pid": proc.pid,
              "port": port, "backend": backend, "instance_dir": inst, "name": name, "database": db,
              "setup": {k: v for k, v in meta.items() if k != "secret_key"}}
    _write_json_atomic(os.path.join(inst, "instance.json"), record)
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
    _check_name(name)
    inst = instance_dir(name)
    pid = _instance_pid(name)
    was_running = pid is not None
    if pid:
        if not quiet:
            log(f"stopping {name} (pid {pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 10
        while time.time() < deadline and _pid_alive(pid):
            time.sleep(0.1)
        if _pid_alive(pid):
            log(f"{name}: pid {pid} ignored SIGTERM for 10 s; sending SIGKILL")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)  # master and its workers
                else:
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            _pid_alive(pid)  # reap if it is our child
    elif not quiet:
        log(f"{name} is not running")
    with contextlib.suppress(OSError):
        os.remove(os.path.join(inst, "gunicorn.pid"))
    if drop:
        meta = _read_json(os.path.join(inst, "instance.json")) or {}
        if meta.get("backend") == "postgresql":
            _pg_dropdb(meta.get("database") or _pg_instance_db(name))
        shutil.rmtree(inst, ignore_errors=True)
        if not quiet:
            log(f"dropped {name}")
    return was_running


def status() -> list:
    out = []
    for path in sorted(glob.glob(os.path.join(instances_dir(), "*", "instance.json"))):
        name = os.path.basename(os.path.dirname(path))
        rec = _read_json(path) or {}
        pid = _instance_pid(name) if NAME_RE.match(name) else None
        if pid:
            out.append({k: rec.get(k) for k in ("name", "url", "port", "pid", "backend", "org_id",
                                                  "token", "instance_dir", "database")})
    return out


# ---------------------------------------------------------------- CLI

def main(argv=None) -> int:
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
