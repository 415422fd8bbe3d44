"""Operator code: the CLI, serving under gunicorn, the demo, the importer and synthetic data."""
