-- Per-user rate limits count recent actions by actor.
CREATE INDEX audit_events_actor_at ON audit_events (actor_sub, at);
