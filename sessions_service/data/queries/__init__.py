"""Database reads and writes. Every function takes a Session first and never commits.

Users in ``users``, login sessions in ``sessions``, the listing machinery in ``filters``;
all of them are importable from here (``queries.list_sessions``).
"""

from sessions_service.data.queries.filters import (
    DEVICE_FILTER_COLUMNS,
    SESSION_FILTER_COLUMNS,
    SORT_COLUMNS,
    USER_SORT_KEYS,
    Page,
    list_sessions,
)
from sessions_service.data.queries.sessions import (
    ACTIVITY_RESOLUTION,
    active_conditions,
    authorize_two_factor,
    create_session,
    find_active_session_by_token,
    get_session,
    logout_session,
    logout_user_sessions,
    touch_session,
)
from sessions_service.data.queries.users import (
    UserExists,
    UserRecord,
    create_user,
    find_user_for_login,
    get_user_by_username,
    list_users,
    set_active,
    set_password,
    set_roles,
)

__all__ = [
    "ACTIVITY_RESOLUTION",
    "DEVICE_FILTER_COLUMNS",
    "SESSION_FILTER_COLUMNS",
    "SORT_COLUMNS",
    "USER_SORT_KEYS",
    "Page",
    "UserExists",
    "UserRecord",
    "active_conditions",
    "authorize_two_factor",
    "create_session",
    "create_user",
    "find_active_session_by_token",
    "find_user_for_login",
    "get_session",
    "get_user_by_username",
    "list_sessions",
    "list_users",
    "logout_session",
    "logout_user_sessions",
    "set_active",
    "set_password",
    "set_roles",
    "touch_session",
]
