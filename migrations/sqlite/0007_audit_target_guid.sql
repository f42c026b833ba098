-- The diagnosis reads trustdesk's own resets and repairs of one object (by objectGUID).
CREATE INDEX audit_events_target_guid ON audit_events (target_guid, at);
