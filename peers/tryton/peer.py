#!/usr/bin/env python3
"""Tryton 8.2 ERP peer for koppel: install, template database, start/stop servers.

Stdlib only (Python >= 3.11).  CLI::

    python3 peers/tryton/peer.py install
    python3 peers/tryton/peer.py template [--backend sqlite|postgresql]
    python3 peers/tryton/peer.py start --name NAME [--backend sqlite|postgresql] [--port P]
    python3 peers/tryton/peer.py stop --name NAME [--drop]
    python3 peers/tryton/peer.py status

Also importable: ``install()``, ``template(backend)``, ``start(name, backend,
port=None) -> dict``, ``stop(name)``, ``status()``.

Everything lives under ``$KOPPEL_CACHE/peers/tryton`` (KOPPEL_CACHE defaults to
``~/.cache/koppel``).  PostgreSQL defaults to ``postgres@127.0.0.1:5432``
(override with KOPPEL_PG_HOST / KOPPEL_PG_PORT / KOPPEL_PG_USER).
Progress goes to stderr; ``start`` prints exactly one JSON line on stdout.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / 'requirements.txt'
SETUP_DB = HERE / 'setup_db.py'

MODULES = [
    'party', 'party_relationship', 'company', 'currency', 'country',
    'product', 'product_price_list', 'sale', 'sale_price_list',
    'sale_opportunity', 'stock', 'stock_supply', 'sale_supply',
    'sale_stock_quantity', 'account', 'account_product', 'account_invoice',
    'account_invoice_stock', 'account_payment', 'account_dunning',
    'account_credit_limit', 'sale_credit_limit', 'sale_complaint',
    ]
ADMIN_LOGIN = 'admin'
ADMIN_PASSWORD = 'koppel-admin'
ADMIN_EMAIL = 'admin@example.com'
BACKENDS = ('sqlite', 'postgresql')
START_TIMEOUT = 60.0
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$')

_children: dict[int, subprocess.Popen] = {}


class PeerError(RuntimeError):
    """A failure with a message that says what to do."""


# --------------------------------------------------------------------- paths
def cache_root() -> Path:
    root = os.environ.get('KOPPEL_CACHE') or '~/.cache/koppel'
    return Path(root).expanduser() / 'peers' / 'tryton'


def venv_dir() -> Path:
    return cache_root() / 'venv'


def venv_bin(name: str) -> Path:
    return venv_dir() / 'bin' / name


def instance_dir(name: str) -> Path:
    return cache_root() / 'instances' / name


def pg_params() -> dict:
    return {
        'host': os.environ.get('KOPPEL_PG_HOST', '127.0.0.1'),
        'port': os.environ.get('KOPPEL_PG_PORT', '5432'),
        'user': os.environ.get('KOPPEL_PG_USER', 'postgres'),
        }


def pg_uri() -> str:
    p = pg_params()
    return f"postgresql://{p['user']}@{p['host']}:{p['port']}/"


def log(msg: str) -> None:
    print(f"[tryton-peer] {msg}", file=sys.stderr, flush=True)


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _lock(name: str):
    lock_dir = cache_root() / 'locks'
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f'{name}.lock', 'w') as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd, *, env=None, cwd=None, what: str, hint: str) -> None:
    """Run a command; on failure raise PeerError with its output tail."""
    log(f"$ {' '.join(str(c) for c in cmd)}")
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = '\n'.join(proc.stdout.splitlines()[-30:])
        raise PeerError(f"{what} failed (exit {proc.returncode}).\n"
            f"--- last output ---\n{tail}\n--- what to do ---\n{hint}")
    return proc.stdout


# ------------------------------------------------------------------- install
def install() -> Path:
    """Create the Tryton venv and install requirements.txt (idempotent)."""
    if not REQUIREMENTS.exists():
        raise PeerError(f"{REQUIREMENTS} is missing; restore it from git "
            "(git checkout -- peers/tryton/requirements.txt).")
    want = _sha256_file(REQUIREMENTS)
    marker = venv_dir() / '.koppel-requirements.sha256'
    if (marker.exists() and marker.read_text().strip() == want
            and venv_bin('trytond').exists()):
        return venv_dir()
    with _lock('install'):
        if (marker.exists() and marker.read_text().strip() == want
                and venv_bin('trytond').exists()):
            return venv_dir()
        t0 = time.monotonic()
        if not venv_bin('python').exists():
            log(f"creating venv {venv_dir()}")
            venv_dir().parent.mkdir(parents=True, exist_ok=True)
            _run([sys.executable, '-m', 'venv', venv_dir()],
                what='python3 -m venv',
                hint="Install the venv module (Debian: apt-get install "
                "python3-venv) or remove the broken folder "
                f"{venv_dir()} and retry.")
        log(f"pip install -r {REQUIREMENTS}")
        _run([venv_bin('python'), '-m', 'pip', 'install', '-q',
                '--disable-pip-version-check', '-r', REQUIREMENTS],
            what='pip install',
            hint="Check that the package registry is reachable (pip "
            "config), or delete the venv folder "
            f"{venv_dir()} and run `peer.py install` again.")
        marker.write_text(want + '\n')
        log(f"install done in {time.monotonic() - t0:.1f}s")
    return venv_dir()


# ------------------------------------------------------------------ template
def template_key() -> str:
    h = hashlib.sha256()
    for path in (REQUIREMENTS, SETUP_DB, Path(__file__).resolve()):
        h.update(path.name.encode() + b'\0' + path.read_bytes() + b'\0')
    return h.hexdigest()[:8]


def _template_paths(backend: str, key: str) -> dict:
    tdir = cache_root() / 'templates'
    if backend == 'sqlite':
        return {
            'dir': tdir,
            'db': f'koppel_tryton_tpl_{key}',
            'file': tdir / f'koppel_tryton_tpl_{key}.sqlite',
            'json': tdir / f'koppel_tryton_tpl_{key}.sqlite.json',
            }
    return {
        'dir': tdir,
        'db': f'koppel_tryton_tpl_{key}',
        'json': tdir / f'koppel_tryton_tpl_{key}.postgresql.json',
        }


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise PeerError(f"unknown backend {backend!r}; use one of "
            f"{', '.join(BACKENDS)}.")


def _psql(sql: str, db: str = 'postgres') -> str:
    p = pg_params()
    cmd = ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
        '-h', p['host'], '-p', p['port'], '-U', p['user'], '-d', db,
        '-c', sql]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise PeerError("`psql` not found; install the PostgreSQL client "
            "(Debian: apt-get install postgresql-client).") from None
    if proc.returncode != 0:
        raise PeerError(f"psql failed: {proc.stderr.strip()}\n"
            f"SQL: {sql}\nIs PostgreSQL running on {p['host']}:{p['port']} "
            "with trust auth for user "
            f"{p['user']}? Start it with: pg_ctlcluster "
            "--skip-systemctl-redirect $(ls /etc/postgresql) main start")
    return proc.stdout.strip()


def _pg_exists(db: str) -> bool:
    return _psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'") == '1'


def _pg_drop(db: str) -> None:
    if not _pg_exists(db):
        return
    _psql(f"UPDATE pg_database SET datistemplate = false "
        f"WHERE datname = '{db}'")
    _psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{db}' AND pid <> pg_backend_pid()")
    _psql(f'DROP DATABASE IF EXISTS "{db}"')


def _write_conf(path: Path, backend: str, db_dir: Path | None,
        port: int | None = None) -> None:
    lines = ['[database]']
    if backend == 'sqlite':
        lines += ['uri = sqlite://', f'path = {db_dir}']
    else:
        lines += [f'uri = {pg_uri()}']
    lines += [
        'language = en',
        '',
        '[session]',
        'timeout = 36000',
        'max_attempt = 100',
        '',
        '[password]',
        'length = 8',
        '',
        '[request]',
        'timeout = 300',
        '',
        ]
    if port is not None:
        lines += ['[web]', f'listen = 127.0.0.1:{port}', '']
    path.write_text('\n'.join(lines))


def _template_ready(backend: str, paths: dict) -> bool:
    if not paths['json'].exists():
        return False
    if backend == 'sqlite':
        return paths['file'].exists()
    return _pg_exists(paths['db'])


def template(backend: str = 'sqlite') -> dict:
    """Build (once) the template database; return its description."""
    _check_backend(backend)
    install()
    key = template_key()
    paths = _template_paths(backend, key)
    info = {'backend': backend, 'key': key, 'database': paths['db'],
        'json': str(paths['json'])}
    if backend == 'sqlite':
        info['file'] = str(paths['file'])
    if _template_ready(backend, paths):
        info['setup'] = json.loads(paths['json'].read_text())
        return info
    with _lock(f'template-{backend}'):
        if _template_ready(backend, paths):
            info['setup'] = json.loads(paths['json'].read_text())
            return info
        _build_template(backend, key, paths)
        _cleanup_old_templates(backend, key)
    info['setup'] = json.loads(paths['json'].read_text())
    return info


def _build_template(backend: str, key: str, paths: dict) -> None:
    t0 = time.monotonic()
    build = paths['dir'] / f'build-{backend}-{key}'
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    db = paths['db'] + '_build'
    if backend == 'sqlite':
        db_dir = build / 'db'
        db_dir.mkdir()
        (db_dir / f'{db}.sqlite').touch()  # trytond-admin needs the file
    else:
        db_dir = None
        _pg_drop(db)
        p = pg_params()
        _run(['createdb', '-h', p['host'], '-p', p['port'], '-U', p['user'],
                '-E', 'UTF8', '-T', 'template0', db],
            what='createdb',
            hint="Make sure PostgreSQL is running on 127.0.0.1:5432 "
            "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) "
            "main start) and user postgres may create databases.")
    conf = build / 'trytond.conf'
    _write_conf(conf, backend, db_dir)
    passfile = build / 'passfile'
    passfile.write_text(ADMIN_PASSWORD + '\n')
    env = dict(os.environ, TRYTONPASSFILE=str(passfile))
    for k in list(env):
        if k.startswith('TRYTOND_'):
            del env[k]
    log(f"activating {len(MODULES)} modules into {db} ({backend}); "
        "this takes ~1-2 minutes")
    _run([venv_bin('trytond-admin'), '-c', conf, '-d', db,
            '--email', ADMIN_EMAIL, '--activate-dependencies', '-u',
            *MODULES],
        env=env, cwd=build, what='trytond-admin (module activation)',
        hint=f"See the output above; build folder {build}. Delete it and "
        "re-run `peer.py template`. If a module is missing, re-run "
        "`peer.py install`.")
    t1 = time.monotonic()
    log(f"modules activated in {t1 - t0:.1f}s; running setup_db.py")
    setup_json = build / 'setup.json'
    _run([venv_bin('python'), SETUP_DB, '--config', conf, '--database', db,
            '--password', ADMIN_PASSWORD, '--output', setup_json],
        env=env, cwd=build, what='setup_db.py',
        hint=f"Fix peers/tryton/setup_db.py (build folder {build}) and "
        "re-run `peer.py template`.")
    setup = json.loads(setup_json.read_text())
    setup['template'] = {'key': key, 'backend': backend,
        'database': paths['db'],
        'activate_seconds': round(t1 - t0, 1),
        'setup_seconds': round(time.monotonic() - t1, 1)}
    if backend == 'sqlite':
        tmp = paths['file'].with_suffix('.sqlite.tmp')
        shutil.copyfile(db_dir / f'{db}.sqlite', tmp)
        os.replace(tmp, paths['file'])
    else:
        _pg_drop(paths['db'])
        _psql(f'ALTER DATABASE "{db}" RENAME TO "{paths["db"]}"')
        _psql(f"UPDATE pg_database SET datistemplate = true "
            f"WHERE datname = '{paths['db']}'")
    tmp = paths['json'].with_suffix('.tmp')
    tmp.write_text(json.dumps(setup, indent=1, sort_keys=True))
    os.replace(tmp, paths['json'])
    shutil.rmtree(build, ignore_errors=True)
    log(f"template {paths['db']} ({backend}) built in "
        f"{time.monotonic() - t0:.1f}s")


def _cleanup_old_templates(backend: str, key: str) -> None:
    tdir = cache_root() / 'templates'
    if backend == 'sqlite':
        for f in tdir.glob('koppel_tryton_tpl_*.sqlite*'):
            if f'_{key}.' not in f.name:
                f.unlink(missing_ok=True)
    else:
        # only drop PG templates this cache built (others may belong to
        # another checkout sharing the server)
        for f in tdir.glob('koppel_tryton_tpl_*.postgresql.json'):
            if f'_{key}.' not in f.name:
                db = f.name.split('.')[0]
                log(f"dropping stale template {db}")
                _pg_drop(db)
                f.unlink(missing_ok=True)


# -------------------------------------------------------------------- server
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            return False
        return True


def rpc(url: str, database: str, method: str, params: list,
        session: str | None = None, timeout: float = 10.0):
    """Minimal JSON-RPC call (no type codecs); returns result or raises."""
    body = json.dumps({'id': 1, 'method': method, 'params': params}).encode()
    req = urllib.request.Request(f'{url}/{database}/rpc/', data=body,
        headers={'Content-Type': 'application/json'})
    if session:
        req.add_header('Authorization', 'Session ' + session)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        data = json.loads(resp.read())
    if data.get('error'):
        raise PeerError(f"RPC error on {method}: {data['error']}")
    return data['result']


def _login(url: str, database: str) -> str:
    user_id, token = rpc(url, database, 'common.db.login',
        [ADMIN_LOGIN, {'password': ADMIN_PASSWORD}, 'en'])[:2]
    return base64.b64encode(
        f'{ADMIN_LOGIN}:{user_id}:{token}'.encode()).decode()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
        if stat.rsplit(')', 1)[1].split()[0] == 'Z':
            _reap(pid)
            return False
        cmdline = Path(f'/proc/{pid}/cmdline').read_bytes()
    except OSError:
        return True
    return b'trytond' in cmdline


def _reap(pid: int) -> None:
    proc = _children.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(Exception):
            proc.wait(timeout=0.1)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _read_pid(idir: Path) -> int | None:
    for f in (idir / 'trytond.pid', idir / 'instance.json'):
        try:
            text = f.read_text()
        except OSError:
            continue
        try:
            pid = (json.loads(text)['pid'] if f.suffix == '.json'
                else int(text.strip()))
        except (ValueError, KeyError, TypeError):
            continue
        if pid:
            return int(pid)
    return None


def _log_tail(path: Path, n: int = 25) -> str:
    try:
        return '\n'.join(path.read_text(errors='replace').splitlines()[-n:])
    except OSError:
        return '(no log)'


def _check_name(name: str) -> None:
    if not name or not NAME_RE.match(name):
        raise PeerError(f"invalid instance name {name!r}: use 1-40 "
            "characters from A-Z a-z 0-9 _ - starting with a letter/digit.")


def db_name(name: str) -> str:
    return 'koppel_tryton_' + name.lower().replace('-', '_')


def start(name: str, backend: str = 'sqlite', port: int | None = None,
        keep: bool = False) -> dict:
    """Start a fresh Tryton server for instance NAME; return its JSON.

    With `keep`, an existing SQLite database of NAME is started again instead of a fresh copy.
    """
    _check_name(name)
    _check_backend(backend)
    tpl = template(backend)
    with _lock(f'instance-{name}'):
        stop(name)
        t0 = time.monotonic()
        idir = instance_dir(name)
        idir.mkdir(parents=True, exist_ok=True)
        database = db_name(name)
        old = idir / 'instance.json'
        if old.exists():
            with contextlib.suppress(Exception):
                prev = json.loads(old.read_text())
                if prev.get('backend') == 'postgresql' and backend != \
                        'postgresql':
                    _pg_drop(prev['database'])
            old.unlink()
        db_dir = idir / 'db'
        kept = keep and backend == 'sqlite' and (
            db_dir / f'{database}.sqlite').exists()
        if not kept:
            shutil.rmtree(db_dir, ignore_errors=True)
        if backend == 'sqlite':
            if not kept:
                db_dir.mkdir()
                shutil.copyfile(tpl['file'], db_dir / f'{database}.sqlite')
        else:
            _pg_drop(database)
            _psql(f'CREATE DATABASE "{database}" TEMPLATE '
                f'"{tpl["database"]}"')
        if port is None:
            port = _free_port()
        elif not _port_free(port):
            raise PeerError(f"port {port} on 127.0.0.1 is in use; pick "
                "another --port or omit it to get a free one.")
        conf = idir / 'trytond.conf'
        _write_conf(conf, backend, db_dir if backend == 'sqlite' else None,
            port)
        logfile = idir / 'trytond.log'
        pidfile = idir / 'trytond.pid'
        pidfile.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items()
            if not k.startswith('TRYTOND_')}
        log(f"starting trytond for {name} ({backend}) on port {port}")
        with open(logfile, 'w') as lf:
            proc = subprocess.Popen(
                [str(venv_bin('trytond')), '-c', str(conf), '-d', database,
                    '--pidfile', str(pidfile)],
                cwd=idir, env=env, stdin=subprocess.DEVNULL, stdout=lf,
                stderr=subprocess.STDOUT, start_new_session=True)
        _children[proc.pid] = proc
        url = f'http://127.0.0.1:{port}'
        info = {'url': url, 'database': database, 'user': ADMIN_LOGIN,
            'password': ADMIN_PASSWORD, 'pid': proc.pid, 'port': port,
            'backend': backend, 'instance_dir': str(idir),
            'name': name, 'config': str(conf), 'log': str(logfile),
            'template': tpl['database'], 'setup': tpl['setup']}
        (idir / 'instance.json').write_text(json.dumps(info, indent=1))
        deadline = time.monotonic() + START_TIMEOUT
        last_err = None
        while True:
            if proc.poll() is not None:
                _children.pop(proc.pid, None)
                raise PeerError(f"trytond for {name} exited with code "
                    f"{proc.returncode} during startup.\n--- {logfile} ---\n"
                    f"{_log_tail(logfile)}\n--- what to do ---\nRead the "
                    "log above; if the template is broken delete "
                    f"{cache_root() / 'templates'} and start again.")
            try:
                _login(url, database)
                break
            except (OSError, PeerError, ValueError) as exc:
                last_err = exc
            if time.monotonic() > deadline:
                stop(name)
                raise PeerError(f"trytond for {name} did not accept a login "
                    f"within {START_TIMEOUT:.0f}s (last error: {last_err}).\n"
                    f"--- {logfile} ---\n{_log_tail(logfile)}\n--- what to "
                    "do ---\nCheck the log; the machine may be overloaded; "
                    "retry `peer.py start`.")
            time.sleep(0.2)
        info['start_seconds'] = round(time.monotonic() - t0, 2)
        (idir / 'instance.json').write_text(json.dumps(info, indent=1))
        log(f"{name} ready at {url} (db {database}) in "
            f"{info['start_seconds']}s")
        return info


def stop(name: str, drop: bool = False) -> bool:
    """Stop instance NAME (SIGTERM, 10 s, SIGKILL). Idempotent.

    Returns True if a running server was stopped.  With drop=True also
    removes the instance database (PG database or SQLite file)."""
    _check_name(name)
    idir = instance_dir(name)
    stopped = False
    pid = _read_pid(idir) if idir.exists() else None
    if pid and _alive(pid):
        log(f"stopping {name} (pid {pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if _alive(pid):
            log(f"{name} ignored SIGTERM; sending SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            for _ in range(50):
                _reap(pid)
                if not _alive(pid):
                    break
                time.sleep(0.1)
        stopped = True
    if pid:
        _reap(pid)
    if idir.exists():
        (idir / 'trytond.pid').unlink(missing_ok=True)
        meta = idir / 'instance.json'
        info = None
        if meta.exists():
            with contextlib.suppress(Exception):
                info = json.loads(meta.read_text())
                info['pid'] = None
                info['stopped'] = True
                meta.write_text(json.dumps(info, indent=1))
        if drop:
            if info and info.get('backend') == 'postgresql':
                _pg_drop(info['database'])
            shutil.rmtree(idir / 'db', ignore_errors=True)
    return stopped


def status() -> list[dict]:
    """Running instances (as recorded in their instance.json)."""
    result = []
    root = cache_root() / 'instances'
    if not root.exists():
        return result
    for idir in sorted(p for p in root.iterdir() if p.is_dir()):
        meta = idir / 'instance.json'
        if not meta.exists():
            continue
        try:
            info = json.loads(meta.read_text())
        except ValueError:
            continue
        pid = _read_pid(idir)
        if not pid or not _alive(pid):
            continue
        info['pid'] = pid
        info.pop('setup', None)
        result.append(info)
    return result


# ----------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='peer.py',
        description='Tryton 8.2 peer for koppel')
    sub = parser.add_subparsers(dest='cmd', required=True)
    sub.add_parser('install', help='create the venv, install requirements')
    p = sub.add_parser('template', help='build the template database')
    p.add_argument('--backend', choices=BACKENDS, default='sqlite')
    p = sub.add_parser('start', help='start a fresh server for NAME')
    p.add_argument('--name', required=True)
    p.add_argument('--keep', action='store_true',
        help="reuse NAME's SQLite database if it exists")
    p.add_argument('--backend', choices=BACKENDS, default='sqlite')
    p.add_argument('--port', type=int)
    p = sub.add_parser('stop', help='stop the server of NAME')
    p.add_argument('--name', required=True)
    p.add_argument('--drop', action='store_true',
        help='also drop the instance database')
    sub.add_parser('status', help='list running instances as JSON')
    args = parser.parse_args(argv)
    try:
        if args.cmd == 'install':
            log(f"venv ready: {install()}")
        elif args.cmd == 'template':
            info = template(args.backend)
            info.pop('setup')
            log(f"template ready: {json.dumps(info)}")
        elif args.cmd == 'start':
            info = start(args.name, args.backend, args.port, keep=args.keep)
            print(json.dumps(info), flush=True)
        elif args.cmd == 'stop':
            was = stop(args.name, drop=args.drop)
            log(f"{args.name}: {'stopped' if was else 'not running'}")
        elif args.cmd == 'status':
            print(json.dumps(status()), flush=True)
    except PeerError as exc:
        print(f"peer.py {args.cmd}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
