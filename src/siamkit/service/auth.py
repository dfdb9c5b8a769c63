"""Who may do what over HTTP: API keys with a read or write scope (``siamkit.gallery.keys``).

Writes (enrolling and removing gallery images) always need a key with write scope; a server
started without ``--api-keys`` answers them 403 with the line that says how to enable them.
Reads (compare, embed, search, the gallery listing and its images) are open unless the server
runs with ``--read-access key``. A key is sent as ``X-API-Key: KEY`` or ``Authorization:
Bearer KEY``; it is never logged or echoed, only its name (from the key file) is.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from siamkit.gallery.keys import ApiKey
from siamkit.service.state import service_state

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key from the server's --api-keys file.")
bearer = HTTPBearer(auto_error=False, description="The same API key, as a bearer token.")

READ_ONLY = (
    "this server is read-only over HTTP: start siamkit serve with --api-keys FILE to enroll and remove images "
    "(siamkit keys add FILE NAME --scope write makes a key)"
)


def _presented(header: str | None, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if header:
        return header.strip()
    if credentials is not None and credentials.credentials:
        return credentials.credentials.strip()
    return None


def _check(request: Request, scope: str, header: str | None, credentials: HTTPAuthorizationCredentials | None) -> ApiKey:
    keys = service_state(request).keys
    if keys is None:
        raise HTTPException(403, READ_ONLY)
    key = _presented(header, credentials)
    what = "enrolling and removing images" if scope == "write" else "this server's reads"
    if key is None:
        raise HTTPException(401, f"{what} need an API key with {scope} scope: send it as X-API-Key: KEY or Authorization: Bearer KEY",
                            headers={"WWW-Authenticate": "Bearer"})
    entry = keys.find(key)
    if entry is None:
        raise HTTPException(401, "this API key is not one the server knows", headers={"WWW-Authenticate": "Bearer"})
    if not entry.allows(scope):
        raise HTTPException(403, f"the API key {entry.name!r} has {entry.scope} scope; {what} need {scope}")
    request.state.api_key_name = entry.name
    return entry


async def write_access(
    request: Request,
    header: str | None = Security(api_key_header),
    credentials: HTTPAuthorizationCredentials | None = Security(bearer),
) -> ApiKey:
    """A dependency: the caller's key, which must have write scope."""
    return _check(request, "write", header, credentials)


async def read_access(
    request: Request,
    header: str | None = Security(api_key_header),
    credentials: HTTPAuthorizationCredentials | None = Security(bearer),
) -> ApiKey | None:
    """A dependency: nothing when reads are open, else the caller's key (read or write scope)."""
    if service_state(request).settings.read_access == "open":
        return None
    return _check(request, "read", header, credentials)
