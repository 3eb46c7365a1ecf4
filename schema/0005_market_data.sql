-- Market data: candles, indicator values, signals (linked to the orders they caused)
-- and news sentiment. Prices, volumes and indicator values are TEXT in plain notation
-- (prices may be negative: some futures and power markets trade below zero).
-- Candle timestamps are candle open times, aligned to the timeframe: 1m..1d to the UTC
-- epoch (so 1d opens at 00:00 UTC), 1w to Monday 00:00 UTC (1970-01-05 = epoch + 345600 s).

-- migrate:up
-- A time series keyed by its natural key: a range read is one walk of the primary key.
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

-- One value per (series, indicator, time, output field); field '' for a single-output
-- indicator. Saving the same timestamp again replaces every field of that point.
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

-- What a strategy decided; strength is on the strategy's own scale (a float).
CREATE TABLE signals (
    id         INTEGER PRIMARY KEY,
    timestamp  TEXT NOT NULL CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    symbol     TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 200),
    action     TEXT NOT NULL CHECK (action IN ('BUY', 'SELL', 'HOLD')),
    strength   REAL,
    strategy   TEXT CHECK (strategy IS NULL OR length(strategy) BETWEEN 1 AND 200),
    price      TEXT CHECK (price IS NULL OR (typeof(price) = 'text' AND price GLOB '*[0-9]*' AND price NOT GLOB '*[^0-9.-]*' AND price NOT GLOB '?*-*' AND price NOT GLOB '*.*.*' AND price GLOB '*[0-9]' AND length(price) <= 65)),
    reason     TEXT,
    metadata   TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
    created_at TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE INDEX signals_by_symbol_time ON signals (symbol, timestamp);
CREATE INDEX signals_by_time ON signals (timestamp);
CREATE INDEX signals_by_strategy_time ON signals (strategy, timestamp) WHERE strategy IS NOT NULL;

-- Which signal caused which order (a signal may cause several orders).
CREATE TABLE signal_orders (
    signal_id INTEGER NOT NULL REFERENCES signals (id) ON DELETE CASCADE,
    order_id  INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    linked_at TEXT NOT NULL CHECK (linked_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (signal_id, order_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX signal_orders_by_order ON signal_orders (order_id, signal_id);

-- Scored headlines; one row per (source, url or headline when there is no url).
CREATE TABLE news (
    id              INTEGER PRIMARY KEY,
    symbol          TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 200),
    headline        TEXT NOT NULL CHECK (length(headline) BETWEEN 1 AND 2000),
    source          TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
    url             TEXT CHECK (url IS NULL OR length(url) BETWEEN 1 AND 2000),
    published_at    TEXT NOT NULL CHECK (published_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    sentiment_score REAL NOT NULL CHECK (sentiment_score BETWEEN -1.0 AND 1.0),
    sentiment_label TEXT CHECK (sentiment_label IS NULL OR length(sentiment_label) BETWEEN 1 AND 50),
    metadata        TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
    created_at      TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE UNIQUE INDEX news_dedup ON news (source, coalesce(url, headline));
CREATE INDEX news_by_symbol_time ON news (symbol, published_at);
CREATE INDEX news_by_time ON news (published_at);

-- migrate:down
DROP TABLE news;
DROP TABLE signal_orders;
DROP TABLE signals;
DROP TABLE indicators;
DROP TABLE candles;
