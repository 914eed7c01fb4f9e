"""The ASGI application for uvicorn (settings from the environment)."""

from tracelot.api.app import create_app

app = create_app()
