"""The BottleCRM connector (django-crm 1.35.0): REST with a personal access token."""

from koppel.connectors.bottlecrm.connector import BottleCrmConnector, create

__all__ = ["BottleCrmConnector", "create"]
