"""The local Flow Service: Adobe's Flow Service, Data Prep, Catalog and inlet APIs on one
machine, stored in one SQLite file."""
