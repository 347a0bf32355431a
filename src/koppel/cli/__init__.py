"""The `koppel` command line."""
