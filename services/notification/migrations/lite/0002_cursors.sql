-- See ../0002_cursors.sql.
CREATE TABLE notification_cursors (
    name TEXT    PRIMARY KEY,
    at   INTEGER NOT NULL
);
