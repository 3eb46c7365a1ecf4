"""The core every part stands on: the connection (db), migrations, value conversion (codec),
exact money, SQLite's decimal functions, safe files, the store scan, the event log and its audit trail.
Imports no domain package."""
