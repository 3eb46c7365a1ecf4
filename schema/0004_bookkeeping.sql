-- Bookkeeping: strategies (with their config history), typed settings, accounts
-- with cash movements, and instruments. The events table is in 0001.
-- Performance and balances are never stored: they are read from trades and
-- cash_movements. Money is TEXT in plain notation (see ARCHITECTURE.md).

-- migrate:up
CREATE TABLE strategies (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    strategy_type TEXT,
    description   TEXT,
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),  -- 0: deleted (soft)
    last_run_at   TEXT CHECK (last_run_at IS NULL OR last_run_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    created_at    TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at    TEXT NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;

-- Every config a strategy ever had; the highest version is the current one, and
-- version v was in force from its created_at until version v+1's.
CREATE TABLE strategy_configs (
    id          INTEGER PRIMARY KEY,
    strategy_id INTEGER NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL CHECK (version >= 1),
    config      TEXT NOT NULL CHECK (json_valid(config) AND json_type(config) = 'object'),
    created_at  TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    UNIQUE (strategy_id, version)
) STRICT;
CREATE INDEX strategy_configs_by_time ON strategy_configs (strategy_id, created_at);

-- value is text in the form its value_type reads; the CHECKs refuse a hand edit
-- that the library could not read back.
CREATE TABLE settings (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE CHECK (length(key) BETWEEN 1 AND 200),
    value       TEXT NOT NULL,
    value_type  TEXT NOT NULL CHECK (value_type IN ('str', 'int', 'float', 'bool', 'decimal', 'json')),
    description TEXT,
    secret      INTEGER NOT NULL DEFAULT 0 CHECK (secret IN (0, 1)),
    created_at  TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at  TEXT NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    CHECK (value_type <> 'bool' OR value IN ('true', 'false')),
    CHECK (value_type <> 'int' OR (value GLOB '*[0-9]*' AND value NOT GLOB '*[^0-9-]*' AND value NOT GLOB '?*-*')),
    CHECK (value_type <> 'decimal' OR (value GLOB '*[0-9]*' AND value NOT GLOB '*[^0-9.-]*' AND value NOT GLOB '?*-*' AND value NOT GLOB '*.*.*' AND value GLOB '*[0-9]' AND length(value) <= 65)),
    CHECK (value_type <> 'json' OR json_valid(value))
) STRICT;

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    base_currency TEXT NOT NULL CHECK (length(base_currency) BETWEEN 2 AND 12 AND base_currency NOT GLOB '*[^A-Z0-9]*'),
    initial_cash  TEXT NOT NULL CHECK (typeof(initial_cash) = 'text' AND initial_cash GLOB '*[0-9]*' AND initial_cash NOT GLOB '*[^0-9.]*' AND initial_cash NOT GLOB '*.*.*' AND initial_cash GLOB '*[0-9]' AND length(initial_cash) <= 65),
    strategy      TEXT,
    created_at    TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
INSERT INTO accounts (name, base_currency, initial_cash, created_at)
VALUES ('default', 'USD', '0', strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z');

-- Deposits and withdrawals; an account's cash balance is derived from these rows.
CREATE TABLE cash_movements (
    id         INTEGER PRIMARY KEY,
    account    TEXT NOT NULL REFERENCES accounts (name),
    kind       TEXT NOT NULL CHECK (kind IN ('deposit', 'withdraw')),
    amount     TEXT NOT NULL CHECK (typeof(amount) = 'text' AND amount GLOB '*[1-9]*' AND amount NOT GLOB '*[^0-9.]*' AND amount NOT GLOB '*.*.*' AND amount GLOB '*[0-9]' AND length(amount) <= 65),
    timestamp  TEXT NOT NULL CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    note       TEXT,
    created_at TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE INDEX cash_movements_by_account ON cash_movements (account, timestamp);

CREATE TABLE instruments (
    id          INTEGER PRIMARY KEY,
    symbol      TEXT NOT NULL UNIQUE CHECK (length(symbol) BETWEEN 1 AND 200),
    name        TEXT,
    asset_class TEXT,
    exchange    TEXT,
    tick_size   TEXT CHECK (tick_size IS NULL OR (typeof(tick_size) = 'text' AND tick_size GLOB '*[1-9]*' AND tick_size NOT GLOB '*[^0-9.]*' AND tick_size NOT GLOB '*.*.*' AND tick_size GLOB '*[0-9]' AND length(tick_size) <= 65)),
    lot_size    TEXT CHECK (lot_size IS NULL OR (typeof(lot_size) = 'text' AND lot_size GLOB '*[1-9]*' AND lot_size NOT GLOB '*[^0-9.]*' AND lot_size NOT GLOB '*.*.*' AND lot_size GLOB '*[0-9]' AND length(lot_size) <= 65)),
    currency    TEXT CHECK (currency IS NULL OR (length(currency) BETWEEN 2 AND 12 AND currency NOT GLOB '*[^A-Z0-9]*')),
    metadata    TEXT CHECK (metadata IS NULL OR (json_valid(metadata) AND json_type(metadata) = 'object')),
    created_at  TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at  TEXT NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE INDEX instruments_by_class ON instruments (asset_class, symbol);

-- migrate:down
DROP TABLE instruments;
DROP TABLE cash_movements;
DROP TABLE accounts;
DROP TABLE settings;
DROP TABLE strategy_configs;
DROP TABLE strategies;
