-- The integration's own credentials (Financials web service key, Sales client secret or
-- password), sealed (encrypted) by the process that stores them; the key never is in the
-- database. One row per name ('integration').
CREATE TABLE sync_secret (
    name TEXT NOT NULL PRIMARY KEY,
    sealed TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
