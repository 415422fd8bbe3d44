"""Who is calling, and may they: the API's ``before_request`` hook (deny by default).

Each view declares a Policy with ``@endpoint(...)``; the hook enforces, in this order,
authentication (401) → parameter validation (400) → permission (403) → two-factor (400),
then leaves ``g.principal`` and ``g.params`` for the view.

Transactions end only at the top level of the hook (``enforce_policy``) or of a view: the
helpers here write, and never commit or roll back, so what survives an error answer is
decided where the answer is.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import current_app, g, request
from marshmallow import Schema, ValidationError
from sqlalchemy.orm import Session

from sessions_service.clock import format_timestamp, utcnow
from sessions_service.core import accounts, logins, permissions, safejson, throttle, twofactor
from sessions_service.core.security import KeyMismatch, check_password_digest, password_digest
from sessions_service.data import queries
from sessions_service.data.dialect import InvalidPattern, check_pattern
from sessions_service.data.models import Totp, User, UserSession
from sessions_service.state import settings_of
from sessions_service.web import events
from sessions_service.web.clientip import request_ip
from sessions_service.web.db import get_db
from sessions_service.web.errors import (
    Forbidden,
    InvalidParams,
    LoginFailed,
    SecretKeyWrong,
    TwoFactorError,
    Unauthorized,
)
from sessions_service.web.schemas import validation_message

log = logging.getLogger(__name__)

# Rocket.Chat's request headers (the OpenAPI document names them from here).
USER_ID_HEADER = "X-User-Id"
AUTH_TOKEN_HEADER = "X-Auth-Token"  # noqa: S105  (a header name, not a secret)
TWO_FACTOR_CODE_HEADER = "x-2fa-code"
TWO_FACTOR_METHOD_HEADER = "x-2fa-method"


@dataclass(frozen=True)
class Policy:
    """What a view requires before it runs, and the schema that shapes its answer.

    The OpenAPI document is generated from these too (``openapi.py``).
    """

    response: type[Schema]
    public: bool = False
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    permission: str | None = None
    two_factor: bool = False
    not_found: bool = False


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: their user and the session their token belongs to."""

    user: User
    session: UserSession


View = Callable[..., dict[str, Any]]


def endpoint(response: type[Schema], **policy: Any) -> Callable[[Callable[..., Any]], View]:
    """Attach a Policy to a view; what the view returns is dumped by ``response``.

    One instance of the schema serves every request (marshmallow's dump keeps no state on
    it): building one copies all its fields, and its nested schemas' too.
    """
    schema = response()

    def decorate(view: Callable[..., Any]) -> View:
        @functools.wraps(view)
        def dumped(*args: Any, **kwargs: Any) -> dict[str, Any]:
            result: dict[str, Any] = schema.dump(view(*args, **kwargs))
            return result

        dumped._policy = Policy(response, **policy)  # type: ignore[attr-defined]
        return dumped

    return decorate


def policy_of(view: Callable[..., Any] | None) -> Policy | None:
    """The Policy a view declared (None: not an API view)."""
    return getattr(view, "_policy", None)


def current_principal() -> Principal:
    """The caller, as authenticated by the hook."""
    principal: Principal = g.principal
    return principal


def _authenticate(now: datetime, permission: str | None) -> tuple[Principal, list[str] | None]:
    """The caller, and the roles of ``permission`` read in the same statement (checked only
    after the parameters, as the order of answers requires)."""
    user_id = request.headers.get(USER_ID_HEADER, "")
    token = request.headers.get(AUTH_TOKEN_HEADER, "")
    if not user_id or not token or len(token) > 512:
        events.emit("auth", "failure", claimed_user_id=user_id or None, path=request.path)
        raise Unauthorized()
    caller = logins.find_caller_by_token(get_db(), token, now, permission)
    if caller is None or caller.session.user_id != user_id or not caller.session.user.active:
        events.emit("auth", "failure", claimed_user_id=user_id, path=request.path)
        raise Unauthorized()
    return Principal(caller.session.user, caller.session), caller.permission_roles


def _record_activity(principal: Principal, now: datetime) -> bool:
    """Move a stale last activity to ``now``; True when that wrote (the caller commits)."""
    session = principal.session
    if now - session.last_activity_at < queries.ACTIVITY_RESOLUTION:
        return False
    queries.touch_session(get_db(), session.id, now)  # conditional again: races write once
    return True


def _load(schema: type[Schema], data: Any) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema().load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        raise InvalidParams(validation_message(messages)) from None
    return loaded


def query_params() -> dict[str, str]:
    """Single-valued query parameters; a repeated or non-UTF-8 one is a 400."""
    # werkzeug decodes with errors="replace": bytes that are not UTF-8 would arrive as U+FFFD
    # and be matched against as if the client had sent that. Multi-byte sequences never hold
    # the ASCII "&" and "=", so checking the whole decoded string checks every part.
    try:
        unquote_to_bytes(request.query_string).decode()
    except UnicodeDecodeError:
        raise InvalidParams("the query string is not valid UTF-8") from None
    args = request.args
    repeated = sorted({k for k in args if len(args.getlist(k)) > 1})
    if repeated:
        raise InvalidParams(f"parameter '{repeated[0]}' given more than once")
    return args.to_dict()


def json_body() -> Any:
    """The request's JSON body; a 400 when it is missing, not JSON, nested too deeply or
    holds a string that is not valid Unicode (a lone surrogate from a ``\\ud800`` escape)."""
    if not request.is_json:
        raise InvalidParams("body must be a JSON object")
    try:
        body = safejson.loads(request.get_data(cache=True))
    except safejson.TooDeep as exc:
        raise InvalidParams(f"body is {exc}") from None
    except ValueError:  # not JSON, or not in a JSON encoding
        raise InvalidParams("body must be a JSON object") from None
    if body is None:
        raise InvalidParams("body must be a JSON object")
    where = safejson.lone_surrogate_at(body)
    if where is not None:
        raise InvalidParams(f"{where}: must not contain lone surrogates")
    return body


def _parse_params(policy: Policy) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if policy.query is not None:
        params.update(_load(policy.query, query_params()))
    if policy.body is not None:
        params.update(_load(policy.body, json_body()))
    if params.get("filter"):
        try:
            check_pattern(get_db(), params["filter"])
        except InvalidPattern as exc:
            raise InvalidParams(f"filter {exc.reason}") from None
    return params


def _check_code(
    db: Session, user: User, totp: Totp | None, method: str, code: str | None, now: datetime
) -> twofactor.Outcome:
    """twofactor.check_code, with an unreadable stored secret answered as SecretKeyWrong."""
    try:
        return twofactor.check_code(db, user, totp, method, code, now, settings_of())
    except KeyMismatch:
        # The server's key is wrong, not the caller's code: decrypting comes before any write,
        # so no failure is counted against the user.
        log.error(
            "the TOTP secret of user %s decrypts with none of the SESSIONS_SECRET_KEY keys; "
            "set the key it was encrypted with",
            user.id,
        )
        raise SecretKeyWrong() from None


def _require_two_factor(principal: Principal, now: datetime) -> bool:
    """Check the request's two-factor code unless none is needed; True when one was checked
    and accepted, TwoFactorError when refused (either way its writes await the caller's commit).
    """
    cfg = settings_of()
    session, user = principal.session, principal.user
    if session.bypass_2fa:
        return False
    client = twofactor.fingerprint(request.headers.get("User-Agent"), request_ip())
    if twofactor.is_remembered(session, client, now, cfg):
        return False
    db = get_db()
    totp = twofactor.load_totp(db, user.id)
    available = twofactor.available_methods(user, totp, cfg)
    if not available:
        return False
    method = twofactor.choose_method(available, request.headers.get(TWO_FACTOR_METHOD_HEADER))
    code = request.headers.get(TWO_FACTOR_CODE_HEADER)
    outcome = _check_code(db, user, totp, method, code, now)
    events.two_factor(user.id, method, outcome.reason, request.path)
    if not outcome.accepted:
        raise TwoFactorError(outcome.error_type or twofactor.ErrorType.INVALID, method, available)
    twofactor.remember(db, session.id, client, now, cfg)
    return True


def begin_login(db: Session, login_name: str, now: datetime) -> throttle.Attempt:
    """Count a login attempt; a blocked one is refused cheaply with LoginFailed.

    The caller commits the count before any bcrypt time is spent (other workers must see it
    before this attempt's password is checked), and rolls back on LoginFailed.
    """
    try:
        return throttle.claim(db, login_name, request_ip(), now, settings_of())
    except throttle.Blocked as blocked:
        events.emit("login", "failure", reason=f"blocked-{blocked.scope}")
        raise LoginFailed.blocked(blocked.scope) from None


def _login_failed(attempt: throttle.Attempt, user_id: str | None, reason: str) -> LoginFailed:
    """Record a failed login (and the blocks it starts); the error to raise."""
    events.emit("login", "failure", user_id=user_id, reason=reason)
    for scope, until in attempt.blocks_if_failed():
        events.emit(
            "login.blocked",
            "failure",
            user_id=user_id,
            scope=scope,
            attempts=attempt.counts[scope],
            until=format_timestamp(until),
        )
    return LoginFailed()


def verify_credentials(
    db: Session, login_name: str, password: str, attempt: throttle.Attempt
) -> User:
    """The active user with this username/email and password; one 401 for every failure.

    Every path spends one bcrypt check at the configured cost, so no kind of user (unknown,
    imported without a password, a service account) answers faster than another.
    """
    digest = password_digest(password)
    user = accounts.find_user_for_login(db, login_name)
    stored = user.password_hash if user is not None else None
    matches = check_password_digest(digest, stored, settings_of().bcrypt_rounds)
    if user is None:
        raise _login_failed(attempt, None, "bad-credentials")
    if not matches or not user.active:
        reason = "bad-credentials" if user.active else "inactive"
        raise _login_failed(attempt, user.id, reason)
    return user


def verify_login_code(
    db: Session, user: User, code: str | None, now: datetime, attempt: throttle.Attempt
) -> bool:
    """Check a TOTP user's login ``code``; True when one was accepted.

    A refused code raises LoginFailed (SecretKeyWrong when the server cannot read the secret)
    after giving the attempt back; the caller commits in every case, errors included.

    A missing or wrong code is not a failed login for throttling: the password was right, and
    the two-factor lockout counts wrong codes (SPEC §3).
    """
    totp = twofactor.load_totp(db, user.id)
    if totp is None:
        return False
    try:
        outcome = _check_code(db, user, totp, "totp", code, now)
    except SecretKeyWrong:
        throttle.refund(db, attempt)  # the server's key is wrong, not the caller
        raise
    events.two_factor(user.id, "totp", outcome.reason, request.path)
    if outcome.accepted:
        return True
    throttle.refund(db, attempt)
    events.emit("login", "failure", user_id=user.id, reason=outcome.reason)
    raise LoginFailed.two_factor(outcome.error_type or twofactor.ErrorType.INVALID)


def enforce_policy() -> None:
    """The blueprint's before_request hook."""
    policy = policy_of(current_app.view_functions.get(request.endpoint or ""))
    if policy is None:  # deny by default: a view without a policy needs a login
        policy = Policy(response=Schema)
    if policy.public:
        g.params = _parse_params(policy)
        return
    now, db = utcnow(), get_db()
    principal, permission_roles = _authenticate(now, policy.permission)
    if _record_activity(principal, now):
        db.commit()  # the activity is kept whatever this request answers
    g.principal = principal
    g.params = _parse_params(policy)
    if policy.permission is not None and not permissions.holds(principal.user, permission_roles):
        events.emit(
            "permission",
            "denied",
            user_id=principal.user.id,
            permission=policy.permission,
            path=request.path,
        )
        raise Forbidden()
    if policy.two_factor:
        try:
            checked = _require_two_factor(principal, now)
        except TwoFactorError:
            db.commit()  # the refused code's failure count survives the error answer
            raise
        if checked:
            db.commit()  # the code is used up (no replay) even if the view then fails
