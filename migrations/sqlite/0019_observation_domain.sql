-- The domain (DNS name) an observation was made in: several managed domains may each have a
-- computer of the same name (issue #19), and one's history must not count as the other's.
-- NULL: made before domains were recorded, when the portal managed one domain.
ALTER TABLE observations ADD COLUMN domain TEXT;
