"""What a workspace user changes about themselves: the language of their pages."""

from __future__ import annotations

from koppel.services.workspace import Workspace
from koppel.store.workspace import UserRow


def set_language(ws: Workspace, actor: str, language: str | None) -> UserRow:
    """Store the user's language (en, de, nl), or None to follow the browser; audited."""
    before = ws.runtime.store.users.existing(actor).language
    row = ws.runtime.store.users.set_language(actor, language)
    ws.audit(actor, "set-language", f"user:{actor}", before={"language": before},
             after={"language": language})
    return row
