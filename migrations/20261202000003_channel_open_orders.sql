-- The open unpaid orders of a sales channel, counted before each placement
-- through it (command_api::channel_limits): an index of just those rows.
CREATE INDEX orders_channel_open_idx ON read_models.orders (channel)
    WHERE status IN ('placed', 'confirmed');
