-- The expirer claimed due deadlines with `FOR UPDATE SKIP LOCKED` and kept
-- that transaction (and its transaction id, which a row lock takes) open
-- while it ran up to 100 expiry commands one after another: every follower
-- of the log waited on it, and confirmations stalled for each round of a
-- wave of expiries. A claim is now a lease written in a statement of its own:
-- a deadline claimed until a time in the future is skipped by other
-- expirers, and one whose expirer died comes due again when its lease lapses.
ALTER TABLE payment_deadlines ADD COLUMN claimed_until timestamptz;
