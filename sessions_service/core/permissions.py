"""Permission checks: a permission is held by a user who has one of its roles."""

from __future__ import annotations

from sessions_service.data.models import User

VIEW_DEVICE_MANAGEMENT = "view-device-management"
LOGOUT_DEVICE_MANAGEMENT = "logout-device-management"
# Both are granted to the "admin" role by migration 0001 (as Rocket.Chat's defaults).


def holds(user: User, permission_roles: list[str] | None) -> bool:
    """True when one of the user's roles is one of the permission's ``permission_roles``
    (as read with the caller's session: ``logins.find_caller_by_token``; None: no such
    permission, so no)."""
    if permission_roles is None:
        return False
    return bool(set(user.roles or []) & set(permission_roles))
