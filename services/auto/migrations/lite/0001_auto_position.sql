-- The SQLite twin of ../0001_auto_position.sql.
CREATE TABLE auto_position (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO auto_position (id, seq) VALUES (1, 0);
