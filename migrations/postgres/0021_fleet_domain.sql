-- The domain (DNS name) of each at-risk computer a fleet report lists: a report covers every
-- managed domain (issue #19), a DC failing in one domain drops only that domain's rows, and
-- the page filters by domain. NULL: rows from before, when a report covered one domain.
ALTER TABLE fleet_findings ADD COLUMN domain TEXT;
