-- Issue 20 points 4 and 7: soft deletes of accounts and instruments (is_active, as the
-- seeds have it), every ccxt timeframe for candles and indicators, and indicator
-- parameters. The audit trail (point 3) needs no table: it is rows of events with
-- event_type 'audit'.
-- Timeframes: 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d align to the UTC epoch
-- (1970-01-01 00:00), 1w to Monday 00:00 UTC (1970-01-05 = epoch + 345600 s), 1M to the
-- first day of a calendar month, 00:00 UTC.
-- Indicators: parameters is a canonical JSON object ('{}' when none) and part of the
-- key (its last column, so the older columns keep their places): RSI {"period": 14}
-- and RSI {"period": 21} are two series.

-- migrate:up
ALTER TABLE accounts ADD COLUMN is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1));
ALTER TABLE instruments ADD COLUMN is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1));

ALTER TABLE candles RENAME TO candles_v11;
CREATE TABLE candles (
    exchange     TEXT NOT NULL CHECK (length(exchange) <= 200),
    symbol       TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 200),
    timeframe    TEXT NOT NULL,
    timestamp    TEXT NOT NULL CHECK (timestamp GLOB
        '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:00.000000Z'),
    open         TEXT NOT NULL CHECK (typeof(open) = 'text' AND open GLOB '*[0-9]*' AND open NOT GLOB '*[^0-9.-]*' AND open NOT GLOB '?*-*' AND open NOT GLOB '*.*.*' AND open GLOB '*[0-9]' AND length(open) <= 65),
    high         TEXT NOT NULL CHECK (typeof(high) = 'text' AND high GLOB '*[0-9]*' AND high NOT GLOB '*[^0-9.-]*' AND high NOT GLOB '?*-*' AND high NOT GLOB '*.*.*' AND high GLOB '*[0-9]' AND length(high) <= 65),
    low          TEXT NOT NULL CHECK (typeof(low) = 'text' AND low GLOB '*[0-9]*' AND low NOT GLOB '*[^0-9.-]*' AND low NOT GLOB '?*-*' AND low NOT GLOB '*.*.*' AND low GLOB '*[0-9]' AND length(low) <= 65),
    close        TEXT NOT NULL CHECK (typeof(close) = 'text' AND close GLOB '*[0-9]*' AND close NOT GLOB '*[^0-9.-]*' AND close NOT GLOB '?*-*' AND close NOT GLOB '*.*.*' AND close GLOB '*[0-9]' AND length(close) <= 65),
    volume       TEXT NOT NULL CHECK (typeof(volume) = 'text' AND volume GLOB '*[0-9]*' AND volume NOT GLOB '*[^0-9.]*' AND volume NOT GLOB '*.*.*' AND volume GLOB '*[0-9]' AND length(volume) <= 65),
    quote_volume TEXT CHECK (quote_volume IS NULL OR (typeof(quote_volume) = 'text' AND quote_volume GLOB '*[0-9]*' AND quote_volume NOT GLOB '*[^0-9.]*' AND quote_volume NOT GLOB '*.*.*' AND quote_volume GLOB '*[0-9]' AND length(quote_volume) <= 65)),
    trades_count INTEGER CHECK (trades_count IS NULL OR trades_count >= 0),
    -- A known timeframe and an aligned open time (CASE, not IN: cheaper per row).
    CHECK (CASE timeframe WHEN '1m' THEN 1
        WHEN '3m'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 180 = 0
        WHEN '5m'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 300 = 0
        WHEN '15m' THEN CAST(strftime('%s', timestamp) AS INTEGER) % 900 = 0
        WHEN '30m' THEN CAST(strftime('%s', timestamp) AS INTEGER) % 1800 = 0
        WHEN '1h'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 3600 = 0
        WHEN '2h'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 7200 = 0
        WHEN '4h'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 14400 = 0
        WHEN '6h'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 21600 = 0
        WHEN '8h'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 28800 = 0
        WHEN '12h' THEN CAST(strftime('%s', timestamp) AS INTEGER) % 43200 = 0
        WHEN '1d'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 86400 = 0
        WHEN '3d'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 259200 = 0
        WHEN '1w'  THEN (CAST(strftime('%s', timestamp) AS INTEGER) - 345600) % 604800 = 0
        WHEN '1M'  THEN substr(timestamp, 9) = '01T00:00:00.000000Z'
        ELSE 0 END),
    -- Rounding to REAL is monotone, so these never reject a valid bar (exact checks in Python).
    CHECK (CAST(high AS REAL) >= max(CAST(open AS REAL), CAST(close AS REAL), CAST(low AS REAL))
           AND CAST(low AS REAL) <= min(CAST(open AS REAL), CAST(close AS REAL))),
    PRIMARY KEY (exchange, symbol, timeframe, timestamp)
) STRICT, WITHOUT ROWID;
INSERT INTO candles SELECT exchange, symbol, timeframe, timestamp, open, high, low, close,
    volume, quote_volume, trades_count FROM candles_v11;
DROP TABLE candles_v11;

ALTER TABLE indicators RENAME TO indicators_v11;
-- value and computed_at refuse NULL in their CHECKs, not with NOT NULL: SQLite 3.40's
-- integrity_check wrongly reports a NOT NULL column of a WITHOUT ROWID table as NULL
-- when a primary-key column (parameters) is declared after it.
CREATE TABLE indicators (
    exchange    TEXT NOT NULL CHECK (length(exchange) <= 200),
    symbol      TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 200),
    timeframe   TEXT NOT NULL CHECK (timeframe IN ('1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M')),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    timestamp   TEXT NOT NULL CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    field       TEXT NOT NULL CHECK (length(field) <= 100),
    value       TEXT CHECK (typeof(value) = 'text' AND value GLOB '*[0-9]*' AND value NOT GLOB '*[^0-9.-]*' AND value NOT GLOB '?*-*' AND value NOT GLOB '*.*.*' AND value GLOB '*[0-9]' AND length(value) <= 65),
    computed_at TEXT CHECK (computed_at IS NOT NULL AND computed_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    parameters  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(parameters) AND json_type(parameters) = 'object' AND length(parameters) <= 10000),
    PRIMARY KEY (exchange, symbol, timeframe, name, parameters, timestamp, field)
) STRICT, WITHOUT ROWID;
INSERT INTO indicators SELECT exchange, symbol, timeframe, name, timestamp, field, value,
    computed_at, '{}' FROM indicators_v11;
DROP TABLE indicators_v11;

-- migrate:down
-- Refuses (the step rolls back) while candles or indicators of the new timeframes are
-- stored, or two parameter sets of one indicator share a time: schema 11 cannot hold
-- them. Parameters of a single set are dropped. The tables are made again with 0005's
-- exact text.
ALTER TABLE indicators RENAME TO indicators_v12;
CREATE TABLE indicators (
    exchange    TEXT NOT NULL CHECK (length(exchange) <= 200),
    symbol      TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 200),
    timeframe   TEXT NOT NULL CHECK (CASE timeframe WHEN '1m' THEN 1 WHEN '5m' THEN 1 WHEN '15m' THEN 1
        WHEN '1h' THEN 1 WHEN '4h' THEN 1 WHEN '1d' THEN 1 WHEN '1w' THEN 1 ELSE 0 END),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    timestamp   TEXT NOT NULL CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    field       TEXT NOT NULL CHECK (length(field) <= 100),
    value       TEXT NOT NULL CHECK (typeof(value) = 'text' AND value GLOB '*[0-9]*' AND value NOT GLOB '*[^0-9.-]*' AND value NOT GLOB '?*-*' AND value NOT GLOB '*.*.*' AND value GLOB '*[0-9]' AND length(value) <= 65),
    computed_at TEXT NOT NULL CHECK (computed_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (exchange, symbol, timeframe, name, timestamp, field)
) STRICT, WITHOUT ROWID;
INSERT INTO indicators SELECT exchange, symbol, timeframe, name, timestamp, field, value,
    computed_at FROM indicators_v12;
DROP TABLE indicators_v12;

ALTER TABLE candles RENAME TO candles_v12;
CREATE TABLE candles (
    exchange     TEXT NOT NULL CHECK (length(exchange) <= 200),
    symbol       TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 200),
    timeframe    TEXT NOT NULL,
    timestamp    TEXT NOT NULL CHECK (timestamp GLOB
        '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:00.000000Z'),
    open         TEXT NOT NULL CHECK (typeof(open) = 'text' AND open GLOB '*[0-9]*' AND open NOT GLOB '*[^0-9.-]*' AND open NOT GLOB '?*-*' AND open NOT GLOB '*.*.*' AND open GLOB '*[0-9]' AND length(open) <= 65),
    high         TEXT NOT NULL CHECK (typeof(high) = 'text' AND high GLOB '*[0-9]*' AND high NOT GLOB '*[^0-9.-]*' AND high NOT GLOB '?*-*' AND high NOT GLOB '*.*.*' AND high GLOB '*[0-9]' AND length(high) <= 65),
    low          TEXT NOT NULL CHECK (typeof(low) = 'text' AND low GLOB '*[0-9]*' AND low NOT GLOB '*[^0-9.-]*' AND low NOT GLOB '?*-*' AND low NOT GLOB '*.*.*' AND low GLOB '*[0-9]' AND length(low) <= 65),
    close        TEXT NOT NULL CHECK (typeof(close) = 'text' AND close GLOB '*[0-9]*' AND close NOT GLOB '*[^0-9.-]*' AND close NOT GLOB '?*-*' AND close NOT GLOB '*.*.*' AND close GLOB '*[0-9]' AND length(close) <= 65),
    volume       TEXT NOT NULL CHECK (typeof(volume) = 'text' AND volume GLOB '*[0-9]*' AND volume NOT GLOB '*[^0-9.]*' AND volume NOT GLOB '*.*.*' AND volume GLOB '*[0-9]' AND length(volume) <= 65),
    quote_volume TEXT CHECK (quote_volume IS NULL OR (typeof(quote_volume) = 'text' AND quote_volume GLOB '*[0-9]*' AND quote_volume NOT GLOB '*[^0-9.]*' AND quote_volume NOT GLOB '*.*.*' AND quote_volume GLOB '*[0-9]' AND length(quote_volume) <= 65)),
    trades_count INTEGER CHECK (trades_count IS NULL OR trades_count >= 0),
    -- A known timeframe and an aligned open time (CASE, not IN: cheaper per row).
    CHECK (CASE timeframe WHEN '1m' THEN 1
        WHEN '5m'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 300 = 0
        WHEN '15m' THEN CAST(strftime('%s', timestamp) AS INTEGER) % 900 = 0
        WHEN '1h'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 3600 = 0
        WHEN '4h'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 14400 = 0
        WHEN '1d'  THEN CAST(strftime('%s', timestamp) AS INTEGER) % 86400 = 0
        WHEN '1w'  THEN (CAST(strftime('%s', timestamp) AS INTEGER) - 345600) % 604800 = 0
        ELSE 0 END),
    -- Rounding to REAL is monotone, so these never reject a valid bar (exact checks in Python).
    CHECK (CAST(high AS REAL) >= max(CAST(open AS REAL), CAST(close AS REAL), CAST(low AS REAL))
           AND CAST(low AS REAL) <= min(CAST(open AS REAL), CAST(close AS REAL))),
    PRIMARY KEY (exchange, symbol, timeframe, timestamp)
) STRICT, WITHOUT ROWID;
INSERT INTO candles SELECT exchange, symbol, timeframe, timestamp, open, high, low, close,
    volume, quote_volume, trades_count FROM candles_v12;
DROP TABLE candles_v12;

ALTER TABLE instruments DROP COLUMN is_active;
ALTER TABLE accounts DROP COLUMN is_active;
