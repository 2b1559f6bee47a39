-- The rows each side had when the review was built: the totals the review page shows each
-- pass's progress against (NULL for lines built before this column existed).
ALTER TABLE sync_review_line ADD COLUMN financials_count BIGINT;
ALTER TABLE sync_review_line ADD COLUMN sales_count BIGINT;
