-- A SKU's units every so many versions, written with its events (store::
-- stock_levels), so a page of its movements folds from the snapshot before
-- it instead of from the stream's first event: a page costs what it holds
-- plus at most the snapshot interval, however long the SKU's history.
CREATE TABLE stock_unit_snapshots (
    sku      text   NOT NULL,
    version  bigint NOT NULL,
    on_hand  bigint NOT NULL,
    reserved bigint NOT NULL,
    PRIMARY KEY (sku, version)
);

INSERT INTO stock_unit_snapshots (sku, version, on_hand, reserved)
SELECT sku, version, on_hand, reserved FROM stock_levels;
