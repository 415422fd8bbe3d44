"""``flask --app app ...``: the app and its operator commands."""

from sessions_service import create_app

app = create_app()
