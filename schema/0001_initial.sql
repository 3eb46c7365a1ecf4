-- The store's own facts: when it was created and by which tradestore.
-- Money columns everywhere are TEXT in plain notation; timestamps are TEXT
-- 'YYYY-MM-DDTHH:MM:SS.ffffffZ'. CHECK constraints keep the sqlite3 shell honest.

-- migrate:up
CREATE TABLE store_meta (
    key        TEXT PRIMARY KEY NOT NULL CHECK (length(key) BETWEEN 1 AND 100),
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL CHECK (updated_at GLOB
        '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;

-- The event log: the store's own faults and the bot's events (issue 6 adds the API).
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
    details    TEXT CHECK (details IS NULL OR json_valid(details))
) STRICT;
CREATE INDEX events_by_time ON events (timestamp);
CREATE INDEX events_by_level_time ON events (level, timestamp);
CREATE INDEX events_by_type_time ON events (event_type, timestamp);

-- migrate:down
DROP TABLE events;
DROP TABLE store_meta;
