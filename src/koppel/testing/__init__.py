"""Test support shipped with koppel: the connector contract suite and record builders."""
