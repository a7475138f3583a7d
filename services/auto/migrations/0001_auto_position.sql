-- The auto service's position in the trade stream: the sequence number of the last
-- trade whose effects (the conditional orders it fired, the trailing stops' marks)
-- are saved. A trade at or below it, delivered again after a restart, is skipped.
CREATE TABLE auto_position (
    id  INT    PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO auto_position (id, seq) VALUES (1, 0);
