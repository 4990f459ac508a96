-- The current state of every stock stream, written in the same transaction
-- as the stream's events, so a reservation reads one row and one hold instead
-- of folding a history that grows with every sale. The events stay the log
-- of record: a stream without a row here is folded once and its row written
-- with its next events (store::stock_levels), and tests compare the rows
-- with the full fold.
CREATE TABLE stock_levels (
    sku             text    PRIMARY KEY,
    version         bigint  NOT NULL CHECK (version > 0),
    last_position   bigint  NOT NULL,
    -- The writer of the stream's last event, for the commit-order check of
    -- store::execute_in.
    transaction_id  xid8    NOT NULL,
    on_hand         bigint  NOT NULL,
    reserved        bigint  NOT NULL CHECK (reserved >= 0)
);

-- What each order holds, or held, of each SKU: a NULL quantity is a settled
-- hold. Settled rows stay, so a redelivered reservation cannot resurrect
-- stock its order gave back.
CREATE TABLE stock_holds (
    sku       text    NOT NULL,
    order_id  uuid    NOT NULL,
    quantity  bigint  CHECK (quantity > 0),
    PRIMARY KEY (sku, order_id)
);

-- Locks a SKU's row and then reads one order's hold. Two statements in a
-- function, not one join: under READ COMMITTED a statement that waited for
-- the lock re-reads only the locked row, and a joined hold would come from
-- the snapshot taken before the previous holder committed. Each statement
-- here takes its own snapshot, so the hold is read after the lock is held.
CREATE FUNCTION lock_stock_level(p_sku text, p_order uuid)
RETURNS TABLE (version bigint, last_position bigint, in_commit_order boolean,
               on_hand bigint, reserved bigint, held boolean, hold_quantity bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SELECT l.version, l.last_position, l.transaction_id <= pg_current_xact_id(),
           l.on_hand, l.reserved
      INTO version, last_position, in_commit_order, on_hand, reserved
      FROM stock_levels l WHERE l.sku = p_sku FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT true, h.quantity INTO held, hold_quantity
      FROM stock_holds h WHERE h.sku = p_sku AND h.order_id = p_order;
    held := coalesce(held, false);
    RETURN NEXT;
END
$$;
