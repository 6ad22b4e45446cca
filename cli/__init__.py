"""The `aiops` command line: starts the system and administers tenants and their data."""
