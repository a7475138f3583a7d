-- Cash has one name everywhere: `USD`, as in the replay format and the engine's state
-- (it was `cash` in the database and in the bus bodies before). Rows settled under the
-- old name are renamed; nothing else changes.
UPDATE balances SET asset = 'USD' WHERE asset = 'cash';
UPDATE ledger SET asset = 'USD' WHERE asset = 'cash';
