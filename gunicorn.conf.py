"""Read by plain ``gunicorn wsgi:app`` from this folder: the same settings as ``serve``."""

from sessions_service.ops.gunicorn_conf import *  # noqa: F403
