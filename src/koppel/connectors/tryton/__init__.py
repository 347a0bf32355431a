"""Tryton 8.2 over JSON-RPC: parties, products, sales, shipments, invoices and complaints."""

from koppel.connectors.tryton.connector import TrytonConnector, create

__all__ = ["TrytonConnector", "create"]
