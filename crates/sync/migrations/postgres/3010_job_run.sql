-- The job queue run (job_log id) an Integration Synch. Job was started by, so a job whose run died
-- (its lease taken over) can be closed as interrupted. NULL for jobs run outside the queue.
ALTER TABLE sync_job ADD COLUMN run_id TEXT;
-- The interrupted jobs (ids, comma-separated) whose work this job resumes.
ALTER TABLE sync_job ADD COLUMN resumes TEXT;
CREATE INDEX sync_job_open ON sync_job (run_id) WHERE finished_at IS NULL;
