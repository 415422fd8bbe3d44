"""``flask --app app ...``: the app and its operator commands."""

from sessions_service import create_app
from sessions_service.ops.logconfig import configure_logging

configure_logging()  # flask's CLI starts this process: its commands' security events to stderr
app = create_app()
