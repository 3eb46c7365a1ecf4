-- Bot state snapshots and the portfolio's equity curve.
-- bot_states keeps every saved version: payload is the canonical tagged JSON text and
-- sha256 the hex digest of exactly its UTF-8 bytes, so a disk fault or a hand edit
-- shows up as a mismatch. No json_valid CHECK on payload on purpose: the checksum is
-- the judge, and a damaged row must stay readable so that it can be reported.

-- migrate:up
CREATE TABLE bot_states (
    id         INTEGER PRIMARY KEY,
    bot        TEXT NOT NULL CHECK (length(bot) BETWEEN 1 AND 200),
    version    INTEGER NOT NULL CHECK (version >= 1),
    saved_at   TEXT NOT NULL CHECK (saved_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    payload    TEXT NOT NULL,
    sha256     TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    size       INTEGER NOT NULL CHECK (size >= 0),
    created_at TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
-- Versions increase per bot, and this index also serves "newest version of a bot".
CREATE UNIQUE INDEX bot_states_by_bot_version ON bot_states (bot, version);

-- One point of the equity curve per account and timestamp: a re-sent snapshot
-- replaces the earlier one (upsert on the unique index, which also serves range reads).
CREATE TABLE portfolio_snapshots (
    id          INTEGER PRIMARY KEY,
    account     TEXT NOT NULL CHECK (length(account) BETWEEN 1 AND 200),
    timestamp   TEXT NOT NULL CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    total_value TEXT NOT NULL CHECK (typeof(total_value) = 'text' AND total_value GLOB '*[0-9]*' AND total_value NOT GLOB '*[^0-9.-]*' AND total_value NOT GLOB '?*-*' AND total_value NOT GLOB '*.*.*' AND total_value GLOB '*[0-9]' AND length(total_value) <= 65),
    cash        TEXT CHECK (cash IS NULL OR (typeof(cash) = 'text' AND cash GLOB '*[0-9]*' AND cash NOT GLOB '*[^0-9.-]*' AND cash NOT GLOB '?*-*' AND cash NOT GLOB '*.*.*' AND cash GLOB '*[0-9]' AND length(cash) <= 65)),
    positions   TEXT CHECK (positions IS NULL OR json_valid(positions)),
    balances    TEXT CHECK (balances IS NULL OR json_valid(balances)),
    created_at  TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at  TEXT NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE UNIQUE INDEX portfolio_snapshots_by_account_time ON portfolio_snapshots (account, timestamp);

-- migrate:down
DROP INDEX portfolio_snapshots_by_account_time;
DROP TABLE portfolio_snapshots;
DROP INDEX bot_states_by_bot_version;
DROP TABLE bot_states;
