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

-- Locks the rows of `p_skus` (in SKU order, so two callers never wait on
-- each other in a cycle) and then reads the hold of each (SKU, order) pair
-- (`p_orders` may hold NULLs: no hold wanted). Two statements, not one join:
-- under READ COMMITTED a statement that waited for a lock re-reads only the
-- locked rows, and a joined hold would come from the snapshot taken before
-- the previous holder committed. Each statement of a function takes its own
-- snapshot, so the holds are read once the locks are held.
CREATE FUNCTION lock_stock_levels(p_skus text[], p_orders uuid[])
RETURNS TABLE (sku text, order_id uuid, version bigint, last_position bigint,
               in_commit_order boolean, on_hand bigint, reserved bigint,
               held boolean, hold_quantity bigint)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM stock_levels l WHERE l.sku = ANY (p_skus) ORDER BY l.sku FOR UPDATE;
    RETURN QUERY
        SELECT l.sku, p.order_id, l.version, l.last_position,
               l.transaction_id <= pg_current_xact_id(), l.on_hand, l.reserved,
               h.sku IS NOT NULL, h.quantity
          FROM unnest(p_skus, p_orders) AS p(sku, order_id)
          JOIN stock_levels l ON l.sku = p.sku
          LEFT JOIN stock_holds h ON h.sku = p.sku AND h.order_id = p.order_id;
END
$$;
