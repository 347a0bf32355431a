"""Connectors to peer systems and the registry that finds them through entry points."""
