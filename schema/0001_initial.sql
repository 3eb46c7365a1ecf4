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

-- migrate:down
DROP TABLE store_meta;
