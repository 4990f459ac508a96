-- Readers waiting for X-Min-Position are woken when a projection publishes
-- a new position, instead of each polling the table.
CREATE FUNCTION notify_projection_position() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.position IS DISTINCT FROM OLD.position THEN
        PERFORM pg_notify('stockroom_positions', NEW.name || ' ' || NEW.position);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER projection_position_published
    AFTER UPDATE OF position ON read_models.projection_positions
    FOR EACH ROW EXECUTE FUNCTION notify_projection_position();
