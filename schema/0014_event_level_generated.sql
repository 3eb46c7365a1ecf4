-- An event's severity is said once (issue 18 point 6): events.level becomes a generated
-- column, the number of its severity (10 debug, 20 info, 30 warning, 40 error,
-- 50 critical, as logging numbers them), computed by SQLite from the row's severity and
-- never written. It stays a column, in its place, so that readers keep reading it and
-- the index events_by_level_time ("this level and above") keeps its key. VIRTUAL: the
-- value is computed on read and kept only in that index (generated columns: SQLite
-- 3.31; tradestore needs 3.37 for STRICT tables, so every supported SQLite opens it).
-- Schema 13 kept the two consistent with a CHECK, because a writer must name level at
-- versions below 14 (a store taken down logs its migration at the lower version):
-- tradestore/_core/events.py names level only below version 14 (EventLog.log).
--
-- SQLite turns a column into a generated one only by making the table again: the rows
-- are copied aside, the table dropped, created and filled back with the same ids, and
-- its three indexes made again (no trigger and no view of ours reads events; a user's
-- own index or trigger on it is made again by the migrator after the step).

-- migrate:up
CREATE TABLE events_v13 AS SELECT * FROM events;
DROP TABLE events;
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    timestamp  TEXT NOT NULL CHECK (timestamp GLOB
        '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    severity   TEXT NOT NULL CHECK (severity IN ('debug', 'info', 'warning', 'error', 'critical')),
    level      INTEGER GENERATED ALWAYS AS (CASE severity WHEN 'debug' THEN 10 WHEN 'info' THEN 20
        WHEN 'warning' THEN 30 WHEN 'error' THEN 40 WHEN 'critical' THEN 50 END) VIRTUAL,
    event_type TEXT NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
    message    TEXT NOT NULL,
    symbol     TEXT,
    trade_id   INTEGER,   -- no foreign key: a log line must never block deleting what it mentions
    order_id   INTEGER,
    details    TEXT CHECK (details IS NULL OR json_valid(details))
) STRICT;
INSERT INTO events (id, timestamp, severity, event_type, message, symbol, trade_id, order_id, details)
SELECT id, timestamp, severity, event_type, message, symbol, trade_id, order_id, details
FROM events_v13;
DROP TABLE events_v13;
CREATE INDEX events_by_level_time ON events (level, timestamp);
CREATE INDEX events_by_time ON events (timestamp);
CREATE INDEX events_by_type_time ON events (event_type, timestamp);

-- migrate:down
-- 0013's table with its exact text, level a stored column again, filled with the number
-- each row's severity gives (the copy aside holds the computed values), so that down and
-- up again leave the schema as it was. Every row of 14 fits 13.
CREATE TABLE events_v14 AS SELECT * FROM events;
DROP TABLE events;
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    timestamp  TEXT NOT NULL CHECK (timestamp GLOB
        '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    severity   TEXT NOT NULL CHECK (severity IN ('debug', 'info', 'warning', 'error', 'critical')),
    level      INTEGER NOT NULL CHECK (level IN (10, 20, 30, 40, 50)),
    event_type TEXT NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
    message    TEXT NOT NULL,
    symbol     TEXT,
    trade_id   INTEGER,   -- no foreign key: a log line must never block deleting what it mentions
    order_id   INTEGER,
    details    TEXT CHECK (details IS NULL OR json_valid(details)),
    CHECK (level = CASE severity WHEN 'debug' THEN 10 WHEN 'info' THEN 20 WHEN 'warning' THEN 30
                                 WHEN 'error' THEN 40 WHEN 'critical' THEN 50 END)
) STRICT;
INSERT INTO events (id, timestamp, severity, level, event_type, message, symbol, trade_id,
                    order_id, details)
SELECT id, timestamp, severity, level, event_type, message, symbol, trade_id, order_id, details
FROM events_v14;
DROP TABLE events_v14;
CREATE INDEX events_by_level_time ON events (level, timestamp);
CREATE INDEX events_by_time ON events (timestamp);
CREATE INDEX events_by_type_time ON events (event_type, timestamp);
