"""`koppel serve` runs the REST API; `koppel users` and `koppel tokens` manage who may use it.

A token is printed once, when it is created; the store keeps only its hash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from koppel.cli import output as out
from koppel.cli.common import DEFAULT_CONFIG, ConfigOption, JsonOption, actor
from koppel.config import Settings, load_settings
from koppel.i18n import _
from koppel.store import AuditEntry, Store

if TYPE_CHECKING:
    from fastapi import FastAPI

commands = typer.Typer()
users_app = typer.Typer(no_args_is_help=True, help="Who may use the API, and with which role.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens (sent as `Authorization: Bearer <token>`).")
commands.add_typer(users_app, name="users")
commands.add_typer(tokens_app, name="tokens")


@commands.command()
def serve(config: ConfigOption = DEFAULT_CONFIG,
          host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
          root_path: Annotated[str, typer.Option(
              "--root-path", envvar="KOPPEL_ROOT_PATH",
              help="The sub-path a reverse proxy serves koppel under (e.g. /koppel), with the "
                   "prefix stripped by the proxy; empty when koppel has the host to itself.")] = "",
          forwarded_allow_ips: Annotated[str, typer.Option(
              "--forwarded-allow-ips", envvar="KOPPEL_FORWARDED_ALLOW_IPS",
              help="Comma-separated addresses (or networks, or *) of the proxies whose X-Forwarded-For "
                   "and X-Forwarded-Proto headers are believed.")] = "127.0.0.1,::1") -> None:
    """Run the workspace and the REST API (OpenAPI at /openapi.json) until Ctrl-C."""
    import uvicorn

    settings = load_settings(config)
    root = normal_root_path(root_path)
    out.err.print(_("koppel workspace on {url} (API: /api/v1, spec: /openapi.json); Ctrl-C stops",
                    url=f"http://{host}:{port}{root}/"), highlight=False)
    uvicorn.run(workspace_app(settings), host=host, port=port, root_path=root, proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips, log_config=None)  # koppel's log format


def normal_root_path(root_path: str) -> str:
    """`/koppel` for `koppel`, `/koppel/` or `/koppel`; empty for `` and `/`."""
    root = root_path.strip().strip("/")
    return f"/{root}" if root else ""


def workspace_app(settings: Settings) -> FastAPI:
    """The API with the web workspace's pages."""
    from koppel.web.app import create_workspace

    return create_workspace(settings)


def serve_in_background(settings: Settings, host: str = "127.0.0.1", port: int = 8700) -> str:
    """Start the workspace in a daemon thread (port + 1 … when taken); returns its address."""
    import socket
    import threading
    import time

    import uvicorn

    for candidate in range(port, port + 50):
        with socket.socket() as probe:
            if probe.connect_ex((host, candidate)) != 0:
                break
    server = uvicorn.Server(uvicorn.Config(workspace_app(settings), host=host, port=candidate,
                                           log_level="warning"))
    threading.Thread(target=server.run, name="workspace", daemon=True).start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    return f"http://{host}:{candidate}/"


def sign_in_token(store: Store, user: str = "demo") -> str:
    """A fresh admin token for `user` (created with the user if needed)."""
    if store.users.get(user) is None:
        store.users.add(user, "admin")
    token = store.tokens.create(user, "printed by koppel demo")[1]
    return token


def _store(config: ConfigOption) -> Store:
    return Store.open(load_settings(config).store.url)


@users_app.command("add")
def users_add(name: Annotated[str, typer.Argument()],
              role: Annotated[str, typer.Option(help="viewer | operator | admin")] = "viewer",
              config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Add a user with a role: viewers read, operators also sync and fix, admins manage users."""
    store = _store(config)
    try:
        user = store.users.add(name, role)
        store.audit.add([AuditEntry(actor=actor(), action="add-user", record=f"user:{name}", after={"role": role},
                      origin="cli")])
    finally:
        store.close()
    out.console.print(_("added {name} ({role}); next: `koppel tokens create {name}`", name=user.name,
                        role=user.role), highlight=False)


@users_app.command("list")
def users_list(config: ConfigOption = DEFAULT_CONFIG, json_output: JsonOption = False) -> None:
    """Every user with their role."""
    store = _store(config)
    try:
        rows = store.users.list()
    finally:
        store.close()
    if json_output:
        out.print_json([u.__dict__ for u in rows])
        return
    out.table(_("users"), ["id", _("name"), _("role"), _("created"), _("disabled")],
              ([u.id, u.name, u.role, u.created_at, u.disabled] for u in rows))


@tokens_app.command("create")
def tokens_create(user: Annotated[str, typer.Argument(help="The user the token acts for.")],
                  label: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
                  config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Create a token and print it — this once; koppel keeps only its hash."""
    store = _store(config)
    try:
        row, secret = store.tokens.create(user, label)
        store.audit.add([AuditEntry(actor=actor(), action="create-token", record=f"token:{row.id}",
                      after={"user": user, "label": label}, origin="cli")])
    finally:
        store.close()
    out.err.print(_("token {id} for {user}; it is shown only now, store it safely:", id=row.id, user=user),
                  highlight=False)
    out.console.file.write(secret + "\n")


@tokens_app.command("list")
def tokens_list(config: ConfigOption = DEFAULT_CONFIG, json_output: JsonOption = False) -> None:
    """Every token (never the secret): user, label, last use, revoked."""
    store = _store(config)
    try:
        rows = store.tokens.list()
    finally:
        store.close()
    if json_output:
        out.print_json([t.__dict__ for t in rows])
        return
    out.table(_("tokens"), ["id", _("user"), _("label"), _("created"), _("last used"), _("revoked")],
              ([t.id, t.user, t.label, t.created_at, t.last_used_at, t.revoked] for t in rows))


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument()], config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    store = _store(config)
    try:
        row = store.tokens.revoke(token_id)
        store.audit.add([AuditEntry(actor=actor(), action="revoke-token", record=f"token:{token_id}",
                      after={"user": row.user}, origin="cli")])
    finally:
        store.close()
    out.console.print(_("token {token_id} of {user} revoked", token_id=token_id, user=row.user))
