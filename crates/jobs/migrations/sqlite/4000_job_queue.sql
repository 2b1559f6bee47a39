-- kontor-jobs: job queue entries and their run log (versions 4000-4999 belong to kontor-jobs).
-- Encoding as everywhere in Kontor: ids are TEXT (lowercase hyphenated UUID), timestamps BIGINT
-- microseconds since the Unix epoch (UTC), durations BIGINT seconds, JSON as TEXT.
CREATE TABLE job_entry (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    -- Unique per kind when set (recurring entries); NULL for one-off entries.
    job_key TEXT,
    description TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}',
    -- ready | in_process | error | on_hold | finished | on_hold_inactivity
    status TEXT NOT NULL,
    -- Lower runs first.
    priority BIGINT NOT NULL DEFAULT 0,
    earliest_start_at BIGINT,
    -- When the entry may run next (Ready) or wakes up by itself (On Hold with Inactivity Timeout).
    run_at BIGINT NOT NULL,
    -- "No. of Minutes between Runs" (in seconds); NULL = not recurring.
    interval_secs BIGINT,
    max_attempts BIGINT NOT NULL,
    rerun_delay_secs BIGINT NOT NULL,
    inactivity_timeout_secs BIGINT,
    -- Runs started since the last successful run (the current one included).
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    -- The lease: who runs it, until when, and which run (= job_log.id) holds it.
    locked_by TEXT,
    locked_until BIGINT,
    run_id TEXT,
    run_started_at BIGINT,
    last_ended_at BIGINT,
    -- Start of the current streak of runs that found nothing to do.
    idle_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX job_entry_kind_key ON job_entry (kind, job_key);
CREATE INDEX job_entry_due ON job_entry (status, priority, run_at);
CREATE INDEX job_entry_lease ON job_entry (status, locked_until);

-- One row per run ("Job Queue Log Entry"); the id is the run id.
CREATE TABLE job_log (
    id TEXT NOT NULL PRIMARY KEY,
    entry_id TEXT NOT NULL REFERENCES job_entry (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    attempt BIGINT NOT NULL,
    worker TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    -- in_process | success | idle | error | released
    status TEXT NOT NULL,
    error TEXT
);
CREATE INDEX job_log_entry ON job_log (entry_id, started_at);
