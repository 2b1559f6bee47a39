-- A recurring entry no longer ends in Error: a failed run is retried with a backoff until a person
-- sets it On Hold. Entries an earlier version left in Error run again at once, their last error kept.
UPDATE job_entry SET status = 'ready', attempts = 0
WHERE status = 'error' AND interval_secs IS NOT NULL;
