"""``gunicorn wsgi:app``: the WSGI entry point."""

from sessions_service import create_app

app = create_app()
