"""The API's routers, one per part of the workspace; all but health and metrics under /api/v1."""

API = "/api/v1"
