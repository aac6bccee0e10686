"""Sync: the one path out of the box (schema, outbox, client) and the programme hub."""
