"""koppel couples a CRM and an ERP in both directions under a declarative ownership policy."""

__version__ = "0.1.0"
