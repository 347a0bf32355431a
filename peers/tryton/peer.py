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
Helpers shared with the BottleCRM peer live in ``peers/_kit.py``.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))  # peers/, for _kit
import _kit  # noqa: E402
from _kit import BACKENDS, PeerError  # noqa: E402

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
START_TIMEOUT = 60.0
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$')
NAME_RULE = ('use 1-40 characters from A-Z a-z 0-9 _ - starting with a '
    'letter/digit.')

_children: dict[int, subprocess.Popen[bytes]] = {}

# --------------------------------------------------------------------- paths
LAYOUT = _kit.Layout('tryton')
cache_root = LAYOUT.root
venv_dir = LAYOUT.venv_dir
venv_bin = LAYOUT.venv_bin
instance_dir = LAYOUT.instance_dir
log = _kit.logger('tryton-peer')


def pg_params() -> dict[str, str]:
    return {
        'host': os.environ.get('KOPPEL_PG_HOST', '127.0.0.1'),
        'port': os.environ.get('KOPPEL_PG_PORT', '5432'),
        'user': os.environ.get('KOPPEL_PG_USER', 'postgres'),
        }


def pg_uri() -> str:
    p = pg_params()
    return f"postgresql://{p['user']}@{p['host']}:{p['port']}/"


def _pg() -> _kit.Postgres:
    p = pg_params()
    return _kit.Postgres(p['host'], p['port'], p['user'],
        hint=f"Is PostgreSQL running on {p['host']}:{p['port']} with trust "
        f"auth for user {p['user']}? Start it with: pg_ctlcluster "
        "--skip-systemctl-redirect $(ls /etc/postgresql) main start")


def _lock(name: str) -> contextlib.AbstractContextManager[None]:
    return _kit.file_lock(cache_root() / 'locks' / f'{name}.lock')


def _run(cmd: Sequence[_kit.StrPath], *, env: dict[str, str] | None = None,
        cwd: Path | None = None, what: str, hint: str) -> None:
    """Run a command (echoed to stderr); on failure raise PeerError with its
    output tail and HINT."""
    _kit.run(cmd, env=env, cwd=cwd, what=what, hint=hint, echo=log,
        merge_stderr=True)


# ------------------------------------------------------------------- install
def install() -> Path:
    """Create the Tryton venv and install requirements.txt (idempotent)."""
    if not REQUIREMENTS.exists():
        raise PeerError(f"{REQUIREMENTS} is missing; restore it from git "
            "(git checkout -- peers/tryton/requirements.txt).")
    want = _kit.sha256_file(REQUIREMENTS)
    marker = venv_dir() / '.koppel-requirements.sha256'
    if _kit.stamp_matches(marker, want, venv_bin('trytond')):
        return venv_dir()
    with _lock('install'):
        if _kit.stamp_matches(marker, want, venv_bin('trytond')):
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
    """8 hex digits over requirements.txt, setup_db.py, peer.py and _kit.py."""
    return _kit.files_digest((REQUIREMENTS, SETUP_DB, Path(__file__).resolve(),
        _kit.SOURCE))[:8]


class _TemplatePaths(NamedTuple):
    dir: Path
    db: str
    json: Path
    file: Path  # the SQLite template (unused with postgresql)


def _template_paths(backend: str, key: str) -> _TemplatePaths:
    tdir = cache_root() / 'templates'
    return _TemplatePaths(dir=tdir, db=f'koppel_tryton_tpl_{key}',
        json=tdir / f'koppel_tryton_tpl_{key}.{backend}.json',
        file=tdir / f'koppel_tryton_tpl_{key}.sqlite')


def _psql(sql: str, db: str = 'postgres') -> str:
    return _kit.psql(_pg(), sql, db)


def _pg_exists(db: str) -> bool:
    return _kit.pg_db_exists(_pg(), db)


def _pg_drop(db: str) -> None:
    _kit.pg_drop(_pg(), db)


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


def _template_ready(backend: str, paths: _TemplatePaths) -> bool:
    if not paths.json.exists():
        return False
    if backend == 'sqlite':
        return paths.file.exists()
    return _pg_exists(paths.db)


def template(backend: str = 'sqlite') -> dict[str, Any]:
    """Build (once) the template database; return its description."""
    _kit.check_backend(backend)
    install()
    key = template_key()
    paths = _template_paths(backend, key)
    info: dict[str, Any] = {'backend': backend, 'key': key,
        'database': paths.db, 'json': str(paths.json)}
    if backend == 'sqlite':
        info['file'] = str(paths.file)
    if _template_ready(backend, paths):
        info['setup'] = json.loads(paths.json.read_text())
        return info
    with _lock(f'template-{backend}'):
        if _template_ready(backend, paths):
            info['setup'] = json.loads(paths.json.read_text())
            return info
        _build_template(backend, key, paths)
        _cleanup_old_templates(backend, key)
    info['setup'] = json.loads(paths.json.read_text())
    return info


def _build_template(backend: str, key: str, paths: _TemplatePaths) -> None:
    t0 = time.monotonic()
    build = paths.dir / f'build-{backend}-{key}'
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    db = paths.db + '_build'
    db_dir: Path | None = None
    if backend == 'sqlite':
        db_dir = build / 'db'
        db_dir.mkdir()
        (db_dir / f'{db}.sqlite').touch()  # trytond-admin needs the file
    else:
        _pg_drop(db)
        _run(['createdb', *_pg().conn_args(), '-E', 'UTF8', '-T', 'template0',
                db],
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
        'database': paths.db,
        'activate_seconds': round(t1 - t0, 1),
        'setup_seconds': round(time.monotonic() - t1, 1)}
    if db_dir is not None:
        tmp = paths.file.with_suffix('.sqlite.tmp')
        shutil.copyfile(db_dir / f'{db}.sqlite', tmp)
        os.replace(tmp, paths.file)
    else:
        _pg_drop(paths.db)
        _psql(f'ALTER DATABASE "{db}" RENAME TO "{paths.db}"')
        _psql(f"UPDATE pg_database SET datistemplate = true "
            f"WHERE datname = '{paths.db}'")
    _kit.write_json_atomic(paths.json, setup, indent=1, sort_keys=True,
        final_newline=False)
    shutil.rmtree(build, ignore_errors=True)
    log(f"template {paths.db} ({backend}) built in "
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
def rpc(url: str, database: str, method: str, params: list[Any],
        session: str | None = None, timeout: float = 10.0) -> Any:
    """Minimal JSON-RPC call (no type codecs); returns result or raises."""
    body = json.dumps({'id': 1, 'method': method, 'params': params}).encode()
    req = urllib.request.Request(f'{url}/{database}/rpc/', data=body,
        headers={'Content-Type': 'application/json'})
    if session:
        req.add_header('Authorization', 'Session ' + session)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    if data.get('error'):
        raise PeerError(f"RPC error on {method}: {data['error']}")
    return data['result']


def _login(url: str, database: str) -> str:
    user_id, token = rpc(url, database, 'common.db.login',
        [ADMIN_LOGIN, {'password': ADMIN_PASSWORD}, 'en'])[:2]
    return base64.b64encode(
        f'{ADMIN_LOGIN}:{user_id}:{token}'.encode()).decode()


def _alive(pid: int) -> bool:
    """PID runs and is a trytond (so a recycled pid is never signalled)."""
    if not _kit.pid_exists(pid):
        return False
    if _kit.is_zombie(pid):
        _reap(pid)
        return False
    cmdline = _kit.cmdline(pid)
    return cmdline is None or b'trytond' in cmdline


def _reap(pid: int) -> None:
    proc = _children.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(Exception):
            proc.wait(timeout=0.1)
        return
    _kit.reap(pid)


def _read_pid(idir: Path) -> int | None:
    pids = _kit.recorded_pids(idir / 'trytond.pid', idir / 'instance.json')
    return pids[0] if pids else None


def _write_instance(path: Path, info: dict[str, Any]) -> None:
    _kit.write_json_atomic(path, info, indent=1, final_newline=False)


def db_name(name: str) -> str:
    return 'koppel_tryton_' + name.lower().replace('-', '_')


def start(name: str, backend: str = 'sqlite', port: int | None = None,
        keep: bool = False) -> dict[str, Any]:
    """Start a fresh Tryton server for instance NAME; return its JSON.

    With `keep`, an existing SQLite database of NAME is started again instead of a fresh copy.
    """
    _kit.check_name(name, NAME_RE, NAME_RULE)
    _kit.check_backend(backend)
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
            port = _kit.free_port()
        elif _kit.port_busy(port) is not None:
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
        proc = _kit.spawn([venv_bin('trytond'), '-c', conf, '-d', database,
                '--pidfile', pidfile],
            cwd=idir, env=env, output=logfile)
        _children[proc.pid] = proc
        url = f'http://127.0.0.1:{port}'
        info: dict[str, Any] = {'url': url, 'database': database,
            'user': ADMIN_LOGIN, 'password': ADMIN_PASSWORD, 'pid': proc.pid,
            'port': port, 'backend': backend, 'instance_dir': str(idir),
            'name': name, 'config': str(conf), 'log': str(logfile),
            'template': tpl['database'], 'setup': tpl['setup']}
        _write_instance(idir / 'instance.json', info)
        deadline = time.monotonic() + START_TIMEOUT
        last_err: Exception | None = None
        while True:
            if proc.poll() is not None:
                _children.pop(proc.pid, None)
                raise PeerError(f"trytond for {name} exited with code "
                    f"{proc.returncode} during startup.\n--- {logfile} ---\n"
                    f"{_kit.log_tail(logfile)}\n--- what to do ---\nRead the "
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
                    f"--- {logfile} ---\n{_kit.log_tail(logfile)}\n--- what "
                    "to do ---\nCheck the log; the machine may be overloaded; "
                    "retry `peer.py start`.")
            time.sleep(0.2)
        info['start_seconds'] = round(time.monotonic() - t0, 2)
        _write_instance(idir / 'instance.json', info)
        log(f"{name} ready at {url} (db {database}) in "
            f"{info['start_seconds']}s")
        return info


def stop(name: str, drop: bool = False) -> bool:
    """Stop instance NAME (SIGTERM, 10 s, SIGKILL). Idempotent.

    Returns True if a running server was stopped.  With drop=True also
    removes the instance database (PG database or SQLite file)."""
    _kit.check_name(name, NAME_RE, NAME_RULE)
    idir = instance_dir(name)
    stopped = False
    pid = _read_pid(idir) if idir.exists() else None
    if pid and _alive(pid):
        log(f"stopping {name} (pid {pid})")
        _kit.terminate(pid, _alive, collect=_reap,
            on_sigkill=lambda: log(f"{name} ignored SIGTERM; sending SIGKILL"))
        stopped = True
    if pid:
        _reap(pid)
    if idir.exists():
        (idir / 'trytond.pid').unlink(missing_ok=True)
        meta = idir / 'instance.json'
        info: dict[str, Any] | None = None
        if meta.exists():
            with contextlib.suppress(Exception):
                info = json.loads(meta.read_text())
                info['pid'] = None
                info['stopped'] = True
                _write_instance(meta, info)
        if drop:
            if info and info.get('backend') == 'postgresql':
                _pg_drop(info['database'])
            shutil.rmtree(idir / 'db', ignore_errors=True)
    return stopped


def status() -> list[dict[str, Any]]:
    """Running instances (as recorded in their instance.json)."""
    result: list[dict[str, Any]] = []
    root = cache_root() / 'instances'
    if not root.exists():
        return result
    for idir in sorted(p for p in root.iterdir() if p.is_dir()):
        meta = idir / 'instance.json'
        if not meta.exists():
            continue
        info = _kit.read_json(meta)
        if not isinstance(info, dict):
            continue
        pid = _read_pid(idir)
        if not pid or not _alive(pid):
            continue
        info['pid'] = pid
        info.pop('setup', None)
        result.append(info)
    return result


# ----------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
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
