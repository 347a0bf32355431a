"""The REST API (FastAPI): token authentication, roles, and thin routes over engine services."""
