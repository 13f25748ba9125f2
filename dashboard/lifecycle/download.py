"""Send an org's export as a download (owner page and partner API share it)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

from flask import send_file
from sqlalchemy.orm import Session

from dashboard.audit.service import Actor, record_audit
from dashboard.lifecycle import export


def send_export(session: Session, org_id: uuid.UUID, slug: str, actor: Actor):
    """Write the export inside the session's RLS context, audit it, stream it, then delete it."""
    folder = Path(tempfile.mkdtemp(prefix="tenantdesk-export-"))
    result = export.write_export(session, org_id, folder / f"{slug}-export.zip")
    record_audit(session, org_id=org_id, actor=actor, action="org.export",
                 target=f"org:{slug}", details={"sha256": result.sha256,
                                                "rows": result.row_counts})
    response = send_file(result.path, mimetype="application/zip", as_attachment=True,
                         download_name=result.path.name)
    response.headers["X-Export-SHA256"] = result.sha256
    response.call_on_close(lambda: shutil.rmtree(folder, ignore_errors=True))
    return response
