-- kontor-sync: the integration's own tables (versions 3000-3999 belong to kontor-sync).
-- Encoding as everywhere in Kontor: ids TEXT (lowercase hyphenated UUID), timestamps BIGINT
-- microseconds since the Unix epoch (UTC), JSON as TEXT.

-- The connection (one row): URLs, company, integration user; never secrets.
CREATE TABLE sync_connection (
    id TEXT NOT NULL PRIMARY KEY,
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Integration table mappings (with their field mappings) as JSON documents.
CREATE TABLE sync_mapping (
    name TEXT NOT NULL PRIMARY KEY,
    position BIGINT NOT NULL,
    definition TEXT NOT NULL,
    -- Changed by a user: re-running setup keeps it.
    customized BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT NOT NULL
);

-- Couplings ("CRM Integration Record") with the last synced values of every mapped field.
CREATE TABLE sync_coupling (
    mapping TEXT NOT NULL,
    financials_id TEXT NOT NULL,
    sales_id TEXT NOT NULL,
    base TEXT,
    base_hash TEXT,
    synced_at BIGINT,
    last_job_id TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (mapping, financials_id)
);
CREATE UNIQUE INDEX sync_coupling_sales ON sync_coupling (mapping, sales_id);

-- Records that failed: the skip rule (same error twice -> skipped until retried).
CREATE TABLE sync_record_state (
    mapping TEXT NOT NULL,
    side TEXT NOT NULL,
    source_id TEXT NOT NULL,
    message TEXT NOT NULL,
    repeats BIGINT NOT NULL,
    skipped BOOLEAN NOT NULL DEFAULT FALSE,
    job_id TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (mapping, side, source_id)
);

-- Integration Synch. Jobs and their errors.
CREATE TABLE sync_job (
    id TEXT NOT NULL PRIMARY KEY,
    mapping TEXT NOT NULL,
    direction TEXT NOT NULL,
    job_type TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    message TEXT NOT NULL DEFAULT '',
    inserted BIGINT NOT NULL DEFAULT 0,
    modified BIGINT NOT NULL DEFAULT 0,
    deleted BIGINT NOT NULL DEFAULT 0,
    unchanged BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    coupled BIGINT NOT NULL DEFAULT 0,
    uncoupled BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sync_job_mapping ON sync_job (mapping, started_at);

CREATE TABLE sync_job_error (
    id TEXT NOT NULL PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES sync_job (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    source TEXT NOT NULL,
    destination TEXT NOT NULL,
    message TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX sync_job_error_job ON sync_job_error (job_id, seq);

-- Change-feed positions (delta links) per mapping and side.
CREATE TABLE sync_watermark (
    mapping TEXT NOT NULL,
    side TEXT NOT NULL,
    token TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (mapping, side)
);

-- Full synchronization review lines.
CREATE TABLE sync_review_line (
    name TEXT NOT NULL PRIMARY KEY,
    position BIGINT NOT NULL,
    dependency_filter TEXT NOT NULL,
    direction TEXT NOT NULL,
    recommendation TEXT NOT NULL,
    queue_status TEXT NOT NULL,
    queue_entry_id TEXT,
    to_job_id TEXT,
    from_job_id TEXT,
    updated_at BIGINT NOT NULL
);
