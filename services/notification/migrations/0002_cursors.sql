-- How far the service has read other services' tables (the auto service's triggered
-- price alerts): database time in microseconds, re-read with a lookback and deduplicated
-- by the inbox's key.
CREATE TABLE notification_cursors (
    name TEXT   PRIMARY KEY,
    at   BIGINT NOT NULL
);
