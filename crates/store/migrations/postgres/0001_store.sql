-- kontor-store's own tables (versions 1-999 belong to the store).
CREATE TABLE store_counter (
    name TEXT NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO store_counter (name, value) VALUES ('row_version', 0);

CREATE TABLE store_tombstone (
    entity_set TEXT NOT NULL,
    id TEXT NOT NULL,
    row_version BIGINT NOT NULL,
    deleted_at BIGINT NOT NULL,
    PRIMARY KEY (entity_set, id)
);
CREATE INDEX store_tombstone_version ON store_tombstone (entity_set, row_version);
