-- Schema discipline (issue 18 point 6): every money, time and order-status column carries
-- its canonical CHECK, and an event's level can only be its severity's number.
-- Gaps closed here: positions.created_at and updated_at and trades.created_at get the
-- time CHECK (fixed-width UTC text, as ts_in writes it); order_status_history's
-- from_status and to_status get the order-status CHECK of orders.status.
-- events: severity is the fact; level is its number (10 debug, 20 info, 30 warning,
-- 40 error, 50 critical, as logging numbers them), kept as the key of the index that
-- "this level and above" reads, and now refused unless it is its severity's number. Not
-- a generated column: writers at every schema version (a store taken below 13 logs its
-- migration) name both, and a generated column cannot be written.
-- tests/test_schema_discipline.py proves each CHECK by storing bad values in a store.
--
-- SQLite adds a CHECK only by making the table again: each table is copied aside,
-- dropped, created with its CHECKs and filled back with the same rows and ids, then its
-- indexes are made again (no trigger exists; the views name the tables and read them
-- again once they are back). positions is the parent of trades and funding_payments:
-- defer_foreign_keys lets the drop leave their references dangling until the rows are
-- back (the count of dangling references is zero again before the step ends, and the
-- migrator's foreign_key_check runs after it).

-- migrate:up
-- A row that a new CHECK would refuse stops the upgrade before anything changes, naming
-- table, column, row id and value (the store stays at version 12). SQLite has no RAISE
-- outside a trigger: a JSON path error is the one error plain SQL words from data.
SELECT json_extract('{}', 'schema 13 refuses ' || tbl || '.' || col || ' of row ' || id || ' = "'
    || value || '": not a UTC time YYYY-MM-DDTHH:MM:SS.ffffffZ; correct the row and '
    || 'migrate again')
FROM (SELECT 'positions' AS tbl, 'created_at' AS col, id, created_at AS value FROM positions
      UNION ALL SELECT 'positions', 'updated_at', id, updated_at FROM positions
      UNION ALL SELECT 'trades', 'created_at', id, created_at FROM trades)
WHERE value NOT GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'
LIMIT 1;
SELECT json_extract('{}', 'schema 13 refuses order_status_history.' || col || ' of row ' || id
    || ' = "' || value || '": not an order status (PENDING, OPEN, PARTIALLY_FILLED, '
    || 'FILLED, CANCELLED, REJECTED, EXPIRED); correct the row and migrate again')
FROM (SELECT 'from_status' AS col, id, from_status AS value FROM order_status_history
      WHERE from_status IS NOT NULL
      UNION ALL SELECT 'to_status', id, to_status FROM order_status_history)
WHERE value NOT IN ('PENDING', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED')
LIMIT 1;

SELECT json_extract('{}', 'schema 13 refuses events.level of row ' || id || ' = ' || level
    || ': not the number of its severity "' || severity || '" (debug 10, info 20, warning 30, '
    || 'error 40, critical 50); correct the row and migrate again')
FROM events
WHERE level IS NOT CASE severity WHEN 'debug' THEN 10 WHEN 'info' THEN 20 WHEN 'warning' THEN 30
                                 WHEN 'error' THEN 40 WHEN 'critical' THEN 50 END
LIMIT 1;

PRAGMA defer_foreign_keys = ON;

CREATE TABLE positions_v12 AS SELECT * FROM positions;
DROP TABLE positions;
CREATE TABLE positions (
    id                     INTEGER PRIMARY KEY,
    account                TEXT NOT NULL,
    symbol                 TEXT NOT NULL,
    side                   TEXT NOT NULL CHECK (side IN ('LONG', 'SHORT')),
    quantity               TEXT NOT NULL CHECK (typeof(quantity) = 'text' AND quantity GLOB '*[0-9]*' AND quantity NOT GLOB '*[^0-9.]*' AND quantity NOT GLOB '*.*.*' AND quantity GLOB '*[0-9]' AND length(quantity) <= 65),
    entry_value            TEXT NOT NULL CHECK (typeof(entry_value) = 'text' AND entry_value GLOB '*[0-9]*' AND entry_value NOT GLOB '*[^0-9.-]*' AND entry_value NOT GLOB '?*-*' AND entry_value NOT GLOB '*.*.*' AND entry_value GLOB '*[0-9]' AND length(entry_value) <= 65),
    entry_fees             TEXT NOT NULL CHECK (typeof(entry_fees) = 'text' AND entry_fees GLOB '*[0-9]*' AND entry_fees NOT GLOB '*[^0-9.-]*' AND entry_fees NOT GLOB '?*-*' AND entry_fees NOT GLOB '*.*.*' AND entry_fees GLOB '*[0-9]' AND length(entry_fees) <= 65),
    max_quantity           TEXT NOT NULL CHECK (typeof(max_quantity) = 'text' AND max_quantity GLOB '*[0-9]*' AND max_quantity NOT GLOB '*[^0-9.]*' AND max_quantity NOT GLOB '*.*.*' AND max_quantity GLOB '*[0-9]' AND length(max_quantity) <= 65),
    realized_pnl           TEXT NOT NULL CHECK (typeof(realized_pnl) = 'text' AND realized_pnl GLOB '*[0-9]*' AND realized_pnl NOT GLOB '*[^0-9.-]*' AND realized_pnl NOT GLOB '?*-*' AND realized_pnl NOT GLOB '*.*.*' AND realized_pnl GLOB '*[0-9]' AND length(realized_pnl) <= 65),
    fees                   TEXT NOT NULL CHECK (typeof(fees) = 'text' AND fees GLOB '*[0-9]*' AND fees NOT GLOB '*[^0-9.-]*' AND fees NOT GLOB '?*-*' AND fees NOT GLOB '*.*.*' AND fees GLOB '*[0-9]' AND length(fees) <= 65),
    trade_count            INTEGER NOT NULL CHECK (trade_count >= 1),
    opened_at              TEXT NOT NULL CHECK (opened_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    closed_at              TEXT CHECK (closed_at IS NULL OR closed_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    created_at             TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at             TEXT NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    exchange               TEXT NOT NULL DEFAULT '',
    currency               TEXT CHECK (currency IS NULL OR length(currency) BETWEEN 1 AND 200),
    strategy               TEXT,
    unvalued_fees          TEXT CHECK (unvalued_fees IS NULL OR (json_valid(unvalued_fees) AND json_type(unvalued_fees) = 'object')),
    entered_quantity       TEXT NOT NULL DEFAULT '0' CHECK (typeof(entered_quantity) = 'text' AND entered_quantity GLOB '*[0-9]*' AND entered_quantity NOT GLOB '*[^0-9.]*' AND entered_quantity NOT GLOB '*.*.*' AND entered_quantity GLOB '*[0-9]' AND length(entered_quantity) <= 65),
    entered_value          TEXT NOT NULL DEFAULT '0' CHECK (typeof(entered_value) = 'text' AND entered_value GLOB '*[0-9]*' AND entered_value NOT GLOB '*[^0-9.]*' AND entered_value NOT GLOB '*.*.*' AND entered_value GLOB '*[0-9]' AND length(entered_value) <= 65),
    exited_quantity        TEXT NOT NULL DEFAULT '0' CHECK (typeof(exited_quantity) = 'text' AND exited_quantity GLOB '*[0-9]*' AND exited_quantity NOT GLOB '*[^0-9.]*' AND exited_quantity NOT GLOB '*.*.*' AND exited_quantity GLOB '*[0-9]' AND length(exited_quantity) <= 65),
    exit_value             TEXT NOT NULL DEFAULT '0' CHECK (typeof(exit_value) = 'text' AND exit_value GLOB '*[0-9]*' AND exit_value NOT GLOB '*[^0-9.]*' AND exit_value NOT GLOB '*.*.*' AND exit_value GLOB '*[0-9]' AND length(exit_value) <= 65),
    avg_exit_price         TEXT CHECK (avg_exit_price IS NULL OR (typeof(avg_exit_price) = 'text' AND avg_exit_price GLOB '*[0-9]*' AND avg_exit_price NOT GLOB '*[^0-9.]*' AND avg_exit_price NOT GLOB '*.*.*' AND avg_exit_price GLOB '*[0-9]' AND length(avg_exit_price) <= 65)),
    round_trip_entry_price TEXT CHECK (round_trip_entry_price IS NULL OR (typeof(round_trip_entry_price) = 'text' AND round_trip_entry_price GLOB '*[0-9]*' AND round_trip_entry_price NOT GLOB '*[^0-9.]*' AND round_trip_entry_price NOT GLOB '*.*.*' AND round_trip_entry_price GLOB '*[0-9]' AND length(round_trip_entry_price) <= 65)),
    funding                TEXT NOT NULL DEFAULT '0' CHECK (typeof(funding) = 'text' AND funding GLOB '*[0-9]*' AND funding NOT GLOB '*[^0-9.-]*' AND funding NOT GLOB '?*-*' AND funding NOT GLOB '*.*.*' AND funding GLOB '*[0-9]' AND length(funding) <= 65),
    commission             TEXT NOT NULL DEFAULT '0' CHECK (typeof(commission) = 'text' AND commission GLOB '*[0-9]*' AND commission NOT GLOB '*[^0-9.-]*' AND commission NOT GLOB '?*-*' AND commission NOT GLOB '*.*.*' AND commission GLOB '*[0-9]' AND length(commission) <= 65),
    trading_pnl            TEXT NOT NULL DEFAULT '0' CHECK (typeof(trading_pnl) = 'text' AND trading_pnl GLOB '*[0-9]*' AND trading_pnl NOT GLOB '*[^0-9.-]*' AND trading_pnl NOT GLOB '?*-*' AND trading_pnl NOT GLOB '*.*.*' AND trading_pnl GLOB '*[0-9]' AND length(trading_pnl) <= 65),
    closed_by              TEXT CHECK (closed_by IS NULL OR closed_by IN ('trade', 'liquidation', 'adjustment')),
    contract_size          TEXT NOT NULL DEFAULT '1' CHECK (typeof(contract_size) = 'text' AND contract_size GLOB '*[1-9]*' AND contract_size NOT GLOB '*[^0-9.]*' AND contract_size NOT GLOB '*.*.*' AND contract_size GLOB '*[0-9]' AND length(contract_size) <= 65),
    inverse                INTEGER NOT NULL DEFAULT 0 CHECK (inverse IN (0, 1)),
    leverage               TEXT CHECK (leverage IS NULL OR (typeof(leverage) = 'text' AND leverage GLOB '*[1-9]*' AND leverage NOT GLOB '*[^0-9.]*' AND leverage NOT GLOB '*.*.*' AND leverage GLOB '*[0-9]' AND length(leverage) <= 65)),
    margin                 TEXT NOT NULL DEFAULT '0' CHECK (typeof(margin) = 'text' AND margin GLOB '*[0-9]*' AND margin NOT GLOB '*[^0-9.]*' AND margin NOT GLOB '*.*.*' AND margin GLOB '*[0-9]' AND length(margin) <= 65),
    margin_mode            TEXT CHECK (margin_mode IS NULL OR margin_mode IN ('isolated', 'cross')),
    liquidation_price      TEXT CHECK (liquidation_price IS NULL OR (typeof(liquidation_price) = 'text' AND liquidation_price GLOB '*[0-9]*' AND liquidation_price NOT GLOB '*[^0-9.]*' AND liquidation_price NOT GLOB '*.*.*' AND liquidation_price GLOB '*[0-9]' AND length(liquidation_price) <= 65))
) STRICT;
INSERT INTO positions SELECT * FROM positions_v12;
DROP TABLE positions_v12;
CREATE INDEX positions_by_closed ON positions (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX positions_by_closed_account ON positions (closed_at, account) WHERE closed_at IS NOT NULL;
CREATE INDEX positions_by_key ON positions (account, exchange, symbol, id);
CREATE INDEX positions_by_symbol ON positions (symbol, opened_at);
CREATE UNIQUE INDEX positions_open ON positions (account, exchange, symbol) WHERE closed_at IS NULL;

CREATE TABLE trades_v12 AS SELECT * FROM trades;
DROP TABLE trades;
CREATE TABLE trades (
    id                  INTEGER PRIMARY KEY,
    account             TEXT NOT NULL CHECK (length(account) BETWEEN 1 AND 200),
    symbol              TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 200),
    side                TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity            TEXT NOT NULL CHECK (typeof(quantity) = 'text' AND quantity GLOB '*[0-9]*' AND quantity NOT GLOB '*[^0-9.]*' AND quantity NOT GLOB '*.*.*' AND quantity GLOB '*[0-9]' AND length(quantity) <= 65),
    price               TEXT NOT NULL CHECK (typeof(price) = 'text' AND price GLOB '*[0-9]*' AND price NOT GLOB '*[^0-9.]*' AND price NOT GLOB '*.*.*' AND price GLOB '*[0-9]' AND length(price) <= 65),
    fees                TEXT NOT NULL DEFAULT '0' CHECK (typeof(fees) = 'text' AND fees GLOB '*[0-9]*' AND fees NOT GLOB '*[^0-9.]*' AND fees NOT GLOB '*.*.*' AND fees GLOB '*[0-9]' AND length(fees) <= 65),
    fee_currency        TEXT,
    exchange            TEXT NOT NULL DEFAULT '',
    external_id         TEXT,
    order_id            INTEGER REFERENCES orders (id),
    strategy            TEXT,
    timestamp           TEXT NOT NULL CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    pnl                 TEXT CHECK (pnl IS NULL OR (typeof(pnl) = 'text' AND pnl GLOB '*[0-9]*' AND pnl NOT GLOB '*[^0-9.-]*' AND pnl NOT GLOB '?*-*' AND pnl NOT GLOB '*.*.*' AND pnl GLOB '*[0-9]' AND length(pnl) <= 65)),
    pnl_given           INTEGER NOT NULL DEFAULT 0 CHECK (pnl_given IN (0, 1)),
    position_id         INTEGER REFERENCES positions (id),
    opened_position_id  INTEGER REFERENCES positions (id),
    metadata            TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
    created_at          TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    kind                TEXT NOT NULL DEFAULT 'TRADE' CHECK (kind IN ('TRADE', 'ADJUSTMENT')),
    fee_value           TEXT CHECK (fee_value IS NULL OR (typeof(fee_value) = 'text' AND fee_value GLOB '*[0-9]*' AND fee_value NOT GLOB '*[^0-9.]*' AND fee_value NOT GLOB '*.*.*' AND fee_value GLOB '*[0-9]' AND length(fee_value) <= 65)),
    voided_at           TEXT CHECK (voided_at IS NULL OR voided_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    void_reason         TEXT,
    liquidation         INTEGER NOT NULL DEFAULT 0 CHECK (liquidation IN (0, 1)),
    commission          TEXT NOT NULL DEFAULT '0' CHECK (typeof(commission) = 'text' AND commission GLOB '*[0-9]*' AND commission NOT GLOB '*[^0-9.]*' AND commission NOT GLOB '*.*.*' AND commission GLOB '*[0-9]' AND length(commission) <= 65),
    commission_currency TEXT,
    leverage            TEXT CHECK (leverage IS NULL OR (typeof(leverage) = 'text' AND leverage GLOB '*[1-9]*' AND leverage NOT GLOB '*[^0-9.]*' AND leverage NOT GLOB '*.*.*' AND leverage GLOB '*[0-9]' AND length(leverage) <= 65)),
    margin              TEXT CHECK (margin IS NULL OR (typeof(margin) = 'text' AND margin GLOB '*[0-9]*' AND margin NOT GLOB '*[^0-9.]*' AND margin NOT GLOB '*.*.*' AND margin GLOB '*[0-9]' AND length(margin) <= 65)),
    margin_mode         TEXT CHECK (margin_mode IS NULL OR margin_mode IN ('isolated', 'cross')),
    liquidation_price   TEXT CHECK (liquidation_price IS NULL OR (typeof(liquidation_price) = 'text' AND liquidation_price GLOB '*[0-9]*' AND liquidation_price NOT GLOB '*[^0-9.]*' AND liquidation_price NOT GLOB '*.*.*' AND liquidation_price GLOB '*[0-9]' AND length(liquidation_price) <= 65))
) STRICT;
INSERT INTO trades SELECT * FROM trades_v12;
DROP TABLE trades_v12;
CREATE INDEX trades_by_account_time ON trades (account, timestamp);
CREATE UNIQUE INDEX trades_by_external_id ON trades (exchange, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX trades_by_opened_position ON trades (opened_position_id) WHERE opened_position_id IS NOT NULL;
CREATE INDEX trades_by_order ON trades (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX trades_by_position ON trades (position_id);
CREATE INDEX trades_by_strategy_time ON trades (strategy, timestamp);
CREATE INDEX trades_by_symbol_time ON trades (symbol, timestamp);
CREATE INDEX trades_by_time ON trades (timestamp);
CREATE INDEX trades_replay ON trades (account, exchange, symbol, timestamp, id) WHERE voided_at IS NULL;

CREATE TABLE order_status_history_v12 AS SELECT * FROM order_status_history;
DROP TABLE order_status_history;
CREATE TABLE order_status_history (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT CHECK (from_status IS NULL OR from_status IN ('PENDING', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED')),
    to_status   TEXT NOT NULL CHECK (to_status IN ('PENDING', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED')),
    reason      TEXT,
    changed_at  TEXT NOT NULL CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
INSERT INTO order_status_history SELECT * FROM order_status_history_v12;
DROP TABLE order_status_history_v12;
CREATE INDEX order_status_history_by_order ON order_status_history (order_id, id);

CREATE TABLE events_v12 AS SELECT * FROM events;
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
INSERT INTO events SELECT * FROM events_v12;
DROP TABLE events_v12;
CREATE INDEX events_by_level_time ON events (level, timestamp);
CREATE INDEX events_by_time ON events (timestamp);
CREATE INDEX events_by_type_time ON events (event_type, timestamp);

PRAGMA defer_foreign_keys = OFF;

-- migrate:down
-- 0012's tables with their exact text (ALTER TABLE ADD COLUMN appended 0008's and 0011's
-- columns to 0002's text on one line), so that down and up again leave the schema as it
-- was. Every row of 13 fits 12.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE events_v13 AS SELECT * FROM events;
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
    details    TEXT CHECK (details IS NULL OR json_valid(details))
) STRICT;
INSERT INTO events SELECT * FROM events_v13;
DROP TABLE events_v13;
CREATE INDEX events_by_level_time ON events (level, timestamp);
CREATE INDEX events_by_time ON events (timestamp);
CREATE INDEX events_by_type_time ON events (event_type, timestamp);

CREATE TABLE order_status_history_v13 AS SELECT * FROM order_status_history;
DROP TABLE order_status_history;
CREATE TABLE order_status_history (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT,
    changed_at  TEXT NOT NULL CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
INSERT INTO order_status_history SELECT * FROM order_status_history_v13;
DROP TABLE order_status_history_v13;
CREATE INDEX order_status_history_by_order ON order_status_history (order_id, id);

CREATE TABLE trades_v13 AS SELECT * FROM trades;
DROP TABLE trades;
CREATE TABLE trades (
    id                 INTEGER PRIMARY KEY,
    account            TEXT NOT NULL CHECK (length(account) BETWEEN 1 AND 200),
    symbol             TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 200),
    side               TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity           TEXT NOT NULL CHECK (typeof(quantity) = 'text' AND quantity GLOB '*[0-9]*' AND quantity NOT GLOB '*[^0-9.]*' AND quantity NOT GLOB '*.*.*' AND quantity GLOB '*[0-9]' AND length(quantity) <= 65),
    price              TEXT NOT NULL CHECK (typeof(price) = 'text' AND price GLOB '*[0-9]*' AND price NOT GLOB '*[^0-9.]*' AND price NOT GLOB '*.*.*' AND price GLOB '*[0-9]' AND length(price) <= 65),
    fees               TEXT NOT NULL DEFAULT '0' CHECK (typeof(fees) = 'text' AND fees GLOB '*[0-9]*' AND fees NOT GLOB '*[^0-9.]*' AND fees NOT GLOB '*.*.*' AND fees GLOB '*[0-9]' AND length(fees) <= 65),
    fee_currency       TEXT,
    exchange           TEXT NOT NULL DEFAULT '',
    external_id        TEXT,
    order_id           INTEGER REFERENCES orders (id),
    strategy           TEXT,
    timestamp          TEXT NOT NULL CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    pnl                TEXT CHECK (pnl IS NULL OR (typeof(pnl) = 'text' AND pnl GLOB '*[0-9]*' AND pnl NOT GLOB '*[^0-9.-]*' AND pnl NOT GLOB '?*-*' AND pnl NOT GLOB '*.*.*' AND pnl GLOB '*[0-9]' AND length(pnl) <= 65)),
    pnl_given          INTEGER NOT NULL DEFAULT 0 CHECK (pnl_given IN (0, 1)),
    position_id        INTEGER REFERENCES positions (id),
    opened_position_id INTEGER REFERENCES positions (id),
    metadata           TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
    created_at         TEXT NOT NULL
, kind TEXT NOT NULL DEFAULT 'TRADE' CHECK (kind IN ('TRADE', 'ADJUSTMENT')), fee_value TEXT CHECK (fee_value IS NULL OR (typeof(fee_value) = 'text' AND fee_value GLOB '*[0-9]*' AND fee_value NOT GLOB '*[^0-9.]*' AND fee_value NOT GLOB '*.*.*' AND fee_value GLOB '*[0-9]' AND length(fee_value) <= 65)), voided_at TEXT CHECK (voided_at IS NULL OR voided_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'), void_reason TEXT, liquidation INTEGER NOT NULL DEFAULT 0 CHECK (liquidation IN (0, 1)), commission TEXT NOT NULL DEFAULT '0' CHECK (typeof(commission) = 'text' AND commission GLOB '*[0-9]*' AND commission NOT GLOB '*[^0-9.]*' AND commission NOT GLOB '*.*.*' AND commission GLOB '*[0-9]' AND length(commission) <= 65), commission_currency TEXT, leverage TEXT CHECK (leverage IS NULL OR (typeof(leverage) = 'text' AND leverage GLOB '*[1-9]*' AND leverage NOT GLOB '*[^0-9.]*' AND leverage NOT GLOB '*.*.*' AND leverage GLOB '*[0-9]' AND length(leverage) <= 65)), margin TEXT CHECK (margin IS NULL OR (typeof(margin) = 'text' AND margin GLOB '*[0-9]*' AND margin NOT GLOB '*[^0-9.]*' AND margin NOT GLOB '*.*.*' AND margin GLOB '*[0-9]' AND length(margin) <= 65)), margin_mode TEXT CHECK (margin_mode IS NULL OR margin_mode IN ('isolated', 'cross')), liquidation_price TEXT CHECK (liquidation_price IS NULL OR (typeof(liquidation_price) = 'text' AND liquidation_price GLOB '*[0-9]*' AND liquidation_price NOT GLOB '*[^0-9.]*' AND liquidation_price NOT GLOB '*.*.*' AND liquidation_price GLOB '*[0-9]' AND length(liquidation_price) <= 65))) STRICT;
INSERT INTO trades SELECT * FROM trades_v13;
DROP TABLE trades_v13;
CREATE INDEX trades_by_account_time ON trades (account, timestamp);
CREATE UNIQUE INDEX trades_by_external_id ON trades (exchange, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX trades_by_opened_position ON trades (opened_position_id) WHERE opened_position_id IS NOT NULL;
CREATE INDEX trades_by_order ON trades (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX trades_by_position ON trades (position_id);
CREATE INDEX trades_by_strategy_time ON trades (strategy, timestamp);
CREATE INDEX trades_by_symbol_time ON trades (symbol, timestamp);
CREATE INDEX trades_by_time ON trades (timestamp);
CREATE INDEX trades_replay ON trades (account, exchange, symbol, timestamp, id) WHERE voided_at IS NULL;

CREATE TABLE positions_v13 AS SELECT * FROM positions;
DROP TABLE positions;
CREATE TABLE positions (
    id            INTEGER PRIMARY KEY,
    account       TEXT NOT NULL,
    symbol        TEXT NOT NULL,
    side          TEXT NOT NULL CHECK (side IN ('LONG', 'SHORT')),
    quantity      TEXT NOT NULL CHECK (typeof(quantity) = 'text' AND quantity GLOB '*[0-9]*' AND quantity NOT GLOB '*[^0-9.]*' AND quantity NOT GLOB '*.*.*' AND quantity GLOB '*[0-9]' AND length(quantity) <= 65),
    entry_value   TEXT NOT NULL CHECK (typeof(entry_value) = 'text' AND entry_value GLOB '*[0-9]*' AND entry_value NOT GLOB '*[^0-9.-]*' AND entry_value NOT GLOB '?*-*' AND entry_value NOT GLOB '*.*.*' AND entry_value GLOB '*[0-9]' AND length(entry_value) <= 65),
    entry_fees    TEXT NOT NULL CHECK (typeof(entry_fees) = 'text' AND entry_fees GLOB '*[0-9]*' AND entry_fees NOT GLOB '*[^0-9.-]*' AND entry_fees NOT GLOB '?*-*' AND entry_fees NOT GLOB '*.*.*' AND entry_fees GLOB '*[0-9]' AND length(entry_fees) <= 65),
    max_quantity  TEXT NOT NULL CHECK (typeof(max_quantity) = 'text' AND max_quantity GLOB '*[0-9]*' AND max_quantity NOT GLOB '*[^0-9.]*' AND max_quantity NOT GLOB '*.*.*' AND max_quantity GLOB '*[0-9]' AND length(max_quantity) <= 65),
    realized_pnl  TEXT NOT NULL CHECK (typeof(realized_pnl) = 'text' AND realized_pnl GLOB '*[0-9]*' AND realized_pnl NOT GLOB '*[^0-9.-]*' AND realized_pnl NOT GLOB '?*-*' AND realized_pnl NOT GLOB '*.*.*' AND realized_pnl GLOB '*[0-9]' AND length(realized_pnl) <= 65),
    fees          TEXT NOT NULL CHECK (typeof(fees) = 'text' AND fees GLOB '*[0-9]*' AND fees NOT GLOB '*[^0-9.-]*' AND fees NOT GLOB '?*-*' AND fees NOT GLOB '*.*.*' AND fees GLOB '*[0-9]' AND length(fees) <= 65),
    trade_count   INTEGER NOT NULL CHECK (trade_count >= 1),
    opened_at     TEXT NOT NULL CHECK (opened_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    closed_at     TEXT CHECK (closed_at IS NULL OR closed_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
, exchange TEXT NOT NULL DEFAULT '', currency TEXT CHECK (currency IS NULL OR length(currency) BETWEEN 1 AND 200), strategy TEXT, unvalued_fees TEXT CHECK (unvalued_fees IS NULL OR (json_valid(unvalued_fees) AND json_type(unvalued_fees) = 'object')), entered_quantity TEXT NOT NULL DEFAULT '0' CHECK (typeof(entered_quantity) = 'text' AND entered_quantity GLOB '*[0-9]*' AND entered_quantity NOT GLOB '*[^0-9.]*' AND entered_quantity NOT GLOB '*.*.*' AND entered_quantity GLOB '*[0-9]' AND length(entered_quantity) <= 65), entered_value TEXT NOT NULL DEFAULT '0' CHECK (typeof(entered_value) = 'text' AND entered_value GLOB '*[0-9]*' AND entered_value NOT GLOB '*[^0-9.]*' AND entered_value NOT GLOB '*.*.*' AND entered_value GLOB '*[0-9]' AND length(entered_value) <= 65), exited_quantity TEXT NOT NULL DEFAULT '0' CHECK (typeof(exited_quantity) = 'text' AND exited_quantity GLOB '*[0-9]*' AND exited_quantity NOT GLOB '*[^0-9.]*' AND exited_quantity NOT GLOB '*.*.*' AND exited_quantity GLOB '*[0-9]' AND length(exited_quantity) <= 65), exit_value TEXT NOT NULL DEFAULT '0' CHECK (typeof(exit_value) = 'text' AND exit_value GLOB '*[0-9]*' AND exit_value NOT GLOB '*[^0-9.]*' AND exit_value NOT GLOB '*.*.*' AND exit_value GLOB '*[0-9]' AND length(exit_value) <= 65), avg_exit_price TEXT CHECK (avg_exit_price IS NULL OR (typeof(avg_exit_price) = 'text' AND avg_exit_price GLOB '*[0-9]*' AND avg_exit_price NOT GLOB '*[^0-9.]*' AND avg_exit_price NOT GLOB '*.*.*' AND avg_exit_price GLOB '*[0-9]' AND length(avg_exit_price) <= 65)), round_trip_entry_price TEXT CHECK (round_trip_entry_price IS NULL OR (typeof(round_trip_entry_price) = 'text' AND round_trip_entry_price GLOB '*[0-9]*' AND round_trip_entry_price NOT GLOB '*[^0-9.]*' AND round_trip_entry_price NOT GLOB '*.*.*' AND round_trip_entry_price GLOB '*[0-9]' AND length(round_trip_entry_price) <= 65)), funding TEXT NOT NULL DEFAULT '0' CHECK (typeof(funding) = 'text' AND funding GLOB '*[0-9]*' AND funding NOT GLOB '*[^0-9.-]*' AND funding NOT GLOB '?*-*' AND funding NOT GLOB '*.*.*' AND funding GLOB '*[0-9]' AND length(funding) <= 65), commission TEXT NOT NULL DEFAULT '0' CHECK (typeof(commission) = 'text' AND commission GLOB '*[0-9]*' AND commission NOT GLOB '*[^0-9.-]*' AND commission NOT GLOB '?*-*' AND commission NOT GLOB '*.*.*' AND commission GLOB '*[0-9]' AND length(commission) <= 65), trading_pnl TEXT NOT NULL DEFAULT '0' CHECK (typeof(trading_pnl) = 'text' AND trading_pnl GLOB '*[0-9]*' AND trading_pnl NOT GLOB '*[^0-9.-]*' AND trading_pnl NOT GLOB '?*-*' AND trading_pnl NOT GLOB '*.*.*' AND trading_pnl GLOB '*[0-9]' AND length(trading_pnl) <= 65), closed_by TEXT CHECK (closed_by IS NULL OR closed_by IN ('trade', 'liquidation', 'adjustment')), contract_size TEXT NOT NULL DEFAULT '1' CHECK (typeof(contract_size) = 'text' AND contract_size GLOB '*[1-9]*' AND contract_size NOT GLOB '*[^0-9.]*' AND contract_size NOT GLOB '*.*.*' AND contract_size GLOB '*[0-9]' AND length(contract_size) <= 65), inverse INTEGER NOT NULL DEFAULT 0 CHECK (inverse IN (0, 1)), leverage TEXT CHECK (leverage IS NULL OR (typeof(leverage) = 'text' AND leverage GLOB '*[1-9]*' AND leverage NOT GLOB '*[^0-9.]*' AND leverage NOT GLOB '*.*.*' AND leverage GLOB '*[0-9]' AND length(leverage) <= 65)), margin TEXT NOT NULL DEFAULT '0' CHECK (typeof(margin) = 'text' AND margin GLOB '*[0-9]*' AND margin NOT GLOB '*[^0-9.]*' AND margin NOT GLOB '*.*.*' AND margin GLOB '*[0-9]' AND length(margin) <= 65), margin_mode TEXT CHECK (margin_mode IS NULL OR margin_mode IN ('isolated', 'cross')), liquidation_price TEXT CHECK (liquidation_price IS NULL OR (typeof(liquidation_price) = 'text' AND liquidation_price GLOB '*[0-9]*' AND liquidation_price NOT GLOB '*[^0-9.]*' AND liquidation_price NOT GLOB '*.*.*' AND liquidation_price GLOB '*[0-9]' AND length(liquidation_price) <= 65))) STRICT;
INSERT INTO positions SELECT * FROM positions_v13;
DROP TABLE positions_v13;
CREATE INDEX positions_by_closed ON positions (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX positions_by_closed_account ON positions (closed_at, account) WHERE closed_at IS NOT NULL;
CREATE INDEX positions_by_key ON positions (account, exchange, symbol, id);
CREATE INDEX positions_by_symbol ON positions (symbol, opened_at);
CREATE UNIQUE INDEX positions_open ON positions (account, exchange, symbol) WHERE closed_at IS NULL;

PRAGMA defer_foreign_keys = OFF;
