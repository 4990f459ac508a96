-- A batch of a log subscription takes hold of its checkpoint row before it
-- applies anything, and only then reads how far events were claimed by id
-- (a Kafka phase, a parked event, a poison batch applied one event at a
-- time). Two statements, so the second sees what the previous holder of the
-- row committed: under READ COMMITTED a statement that waited for a lock
-- keeps the snapshot it started with for everything but the locked row.
-- NULL when the checkpoint is no longer at `from`: another instance moved it.
CREATE FUNCTION hold_subscription(
    subscription text,
    from_transaction xid8,
    from_position bigint,
    consumer_name text
) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    highest_claim bigint;
BEGIN
    PERFORM 1 FROM subscriptions
     WHERE name = subscription
       AND transaction_id = from_transaction AND position = from_position
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(max(p.position), 0) INTO highest_claim
      FROM processed_events AS p WHERE p.consumer = consumer_name;
    RETURN highest_claim;
END
$$;
