"""Secrets out of what the Lake view shows: the lake root's credentials, also inside error texts.

A root such as ``ftp://user:pw@host/lake`` or ``s3://key:secret@bucket`` carries a password. Its password is handed
to Airflow's secrets masker (so the API server's logs hide it too) and every text the view shows goes through the
masker's ``redact``; passwords in URLs are also cut structurally, since the masker skips short secrets
(``[logging] min_length_masked_secret``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "***"
#: ``scheme://user:password@`` inside any text (an error message may quote the URL it failed on).
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]*:)(?P<password>[^\s@/]*)@")


def _masker() -> tuple[Any, Any] | None:
    try:  # the API server's own masker (what its REST API redacts connections and variables with)
        from airflow._shared.secrets_masker import mask_secret, redact
    except ImportError:  # pragma: no cover - other Airflow layouts
        try:
            from airflow.sdk._shared.secrets_masker import redact
            from airflow.sdk.log import mask_secret
        except ImportError:
            return None
    return mask_secret, redact


def register_root(root: str) -> None:
    """Hand the password (and its URL-decoded form) of ``root`` to Airflow's secrets masker."""
    masker = _masker()
    try:
        password = urlsplit(root).password
    except ValueError:
        password = None
    if masker is None or not password:
        return
    mask_secret, _ = masker
    for secret in {password, unquote(password)}:
        mask_secret(secret)


def redact(text: Any) -> str:
    """``text`` with URL passwords and every secret the masker knows replaced by ``***``."""
    out = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", str(text))
    masker = _masker()
    if masker is not None:
        _, masker_redact = masker
        out = str(masker_redact(out))
    return out
