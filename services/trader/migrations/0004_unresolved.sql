-- Rows with no verdict (`pending_new`, `known_seq` 0): in flight for a moment, or an
-- outcome never heard, which the reconciler (src/reconcile.rs) looks for every second.
CREATE INDEX trader_orders_unresolved ON trader_orders (created_at)
    WHERE status = 'pending_new' AND known_seq = 0;
