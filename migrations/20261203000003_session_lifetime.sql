-- Sessions end after an absolute lifetime counted from `created_at` as well
-- as when idle; the housekeeping sweep finds the old ones by it.
CREATE INDEX console_sessions_created ON console_sessions (created_at);
