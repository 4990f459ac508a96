-- A counter of the catalogue's changes, bumped by every product event in the
-- transaction that appends it (so the two can never disagree).
--
-- Why: the command API keeps the products it has read and places an order
-- with one statement that appends only if the catalogue is still at the
-- version its prices were read at. One row, read without a lock: the check
-- costs a single-page read whatever the size of the log, and no cached plan
-- can go stale on it. Product commands, which are rare, queue on the row.
CREATE TABLE catalogue_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version bigint NOT NULL
);

INSERT INTO catalogue_version (version)
SELECT count(*) FROM events WHERE category = 'product';

CREATE FUNCTION bump_catalogue_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE catalogue_version SET version = version + 1;
  RETURN NULL;
END
$$;

CREATE TRIGGER catalogue_changed
AFTER INSERT ON events
FOR EACH ROW WHEN (NEW.category = 'product')
EXECUTE FUNCTION bump_catalogue_version();
