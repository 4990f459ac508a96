-- An event's occurred_at is the moment it was appended, not the start of its
-- transaction: a reservation that waited for a stock row's lock, or folded a
-- long stream, no longer back-dates its confirmation, and placed → confirmed
-- measured from the log is what a client saw.
ALTER TABLE events ALTER COLUMN occurred_at SET DEFAULT clock_timestamp();
