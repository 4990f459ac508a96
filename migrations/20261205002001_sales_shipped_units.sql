-- A cancellation after a partial shipment cancels only the units that never
-- left, so the sales projection keeps, per order and SKU, the units its
-- shipments named. It belongs to the projection (rebuilt and swapped with
-- it).
CREATE TABLE read_models.sales_shipped_units (
    order_id uuid   NOT NULL,
    sku      text   NOT NULL,
    quantity bigint NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);

-- Filled in from the shipments the sales projection has already applied,
-- by the rule `projections verify` recomputes it with: at or below its
-- checkpoint, or processed out of order, and not parked.
INSERT INTO read_models.sales_shipped_units (order_id, sku, quantity)
SELECT e.aggregate_id::uuid, line->>'sku', sum((line->>'quantity')::bigint)
FROM events e, jsonb_array_elements(e.data->'lines') AS line
WHERE e.event_type = 'OrderShipped' AND jsonb_typeof(e.data->'lines') = 'array'
  AND ((e.transaction_id, e.position) <=
           (SELECT s.transaction_id, s.position FROM subscriptions s WHERE s.name = 'sales')
       OR EXISTS (SELECT 1 FROM processed_events p
                  WHERE p.consumer = 'sales' AND p.event_id = e.event_id))
  AND NOT EXISTS (SELECT 1 FROM parked_events k
                  WHERE k.consumer = 'sales' AND k.event_id = e.event_id AND k.retried_at IS NULL)
GROUP BY 1, 2;

SELECT grant_process_roles();
GRANT SELECT ON read_models.sales_shipped_units TO stockroom_analyst;
