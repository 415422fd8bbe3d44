"""Database reads and writes. Every function takes a Session first and never commits.

Users in ``users``, login sessions in ``sessions``, the listing machinery in ``filters``;
all of them are importable from here (``queries.list_sessions``).
"""

from sessions_service.data.queries.filters import (
    DEFAULT_SORT,
    DEVICE_FILTER_COLUMNS,
    SESSION_FILTER_COLUMNS,
    SORT_KEYS,
    USER_SORT_KEYS,
    Page,
    list_sessions,
)
from sessions_service.data.queries.sessions import (
    ACTIVITY_RESOLUTION,
    Caller,
    SessionRecord,
    UserRef,
    active_conditions,
    authorize_two_factor,
    find_active_session,
    find_caller,
    get_session,
    insert_session,
    logout_session,
    logout_user_sessions,
    storable_user_agent,
    touch_session,
)
from sessions_service.data.queries.users import (
    UserRecord,
    any_key_taken,
    find_user_by_key,
    find_user_by_username_key,
    insert_user,
    list_users,
    set_active,
    set_password_hash,
    set_roles,
)

__all__ = [
    "ACTIVITY_RESOLUTION",
    "Caller",
    "DEFAULT_SORT",
    "DEVICE_FILTER_COLUMNS",
    "SESSION_FILTER_COLUMNS",
    "SORT_KEYS",
    "USER_SORT_KEYS",
    "Page",
    "SessionRecord",
    "UserRecord",
    "UserRef",
    "active_conditions",
    "any_key_taken",
    "authorize_two_factor",
    "find_active_session",
    "find_caller",
    "find_user_by_key",
    "find_user_by_username_key",
    "get_session",
    "insert_session",
    "insert_user",
    "list_sessions",
    "list_users",
    "logout_session",
    "logout_user_sessions",
    "set_active",
    "set_password_hash",
    "set_roles",
    "storable_user_agent",
    "touch_session",
]
