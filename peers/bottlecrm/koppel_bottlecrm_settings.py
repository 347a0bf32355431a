"""Django settings shim for running BottleCRM (django-crm 1.35.0) as a koppel test peer.

Put this folder on PYTHONPATH and set DJANGO_SETTINGS_MODULE=koppel_bottlecrm_settings.
Set SECRET_KEY (>= 32 bytes) in the environment BEFORE import: crm.settings reads it
at import time and signs JWTs with it.

Environment read here (peer.py sets all of them):
  KOPPEL_CRM_BACKEND   sqlite (default) | postgresql
  KOPPEL_CRM_SQLITE    absolute path of the SQLite file (sqlite backend)
  DBNAME DBUSER DBPASSWORD DBHOST DBPORT   (postgresql backend; read by crm.settings itself)
"""
import os

from crm.settings import *  # noqa: F401,F403
from crm.settings import DATABASES as _STOCK_DATABASES

_backend = os.environ.get("KOPPEL_CRM_BACKEND", "sqlite")
if _backend == "sqlite":
    _path = os.environ.get("KOPPEL_CRM_SQLITE")
    if not _path:
        raise RuntimeError(
            "KOPPEL_CRM_SQLITE is not set: set it to the absolute path of the SQLite "
            "database (peer.py does this for you)."
        )
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _path,
            # two gunicorn workers write to the same file: wait instead of "database is locked"
            "OPTIONS": {"timeout": 30},
        }
    }
elif _backend == "postgresql":
    DATABASES = _STOCK_DATABASES
else:
    raise RuntimeError(
        f"KOPPEL_CRM_BACKEND={_backend!r} is not supported: use 'sqlite' or 'postgresql'."
    )

# No Redis: without these, creates that notify an assignee commit and then answer 500.
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"

# The peer only listens on loopback.
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
