//! kontor-e2e: end-to-end tests only (`tests/`): both real servers on their own ports and stores,
//! the sync engine between them through its HTTP connectors, on SQLite and PostgreSQL.
