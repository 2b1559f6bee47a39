-- How far a review line has got between its two passes: '' (its first pass not done),
-- 'To Done' (the Financials -> Sales pass finished; the Sales -> Financials pass waits for the
-- lines it depends on), 'From Started' (that pass was started, by one worker only).
ALTER TABLE sync_review_line ADD COLUMN stage TEXT NOT NULL DEFAULT '';
