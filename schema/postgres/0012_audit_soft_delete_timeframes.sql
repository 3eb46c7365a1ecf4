-- Issue 20 points 4 and 7: soft deletes of accounts and instruments (is_active), every
-- ccxt timeframe for candles and indicators, and indicator parameters.
-- PostgreSQL version of schema/0012_audit_soft_delete_timeframes.sql. Where SQLite
-- rebuilds candles and indicators, PostgreSQL changes them in place: the named checks
-- of 0005 are replaced and the indicators' primary key gains parameters.
-- Timeframes: 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d align to the UTC epoch
-- (1970-01-01 00:00), 1w to Monday 00:00 UTC (1970-01-05 = epoch + 345600 s), 1M to the
-- first day of a calendar month, 00:00 UTC.
-- Indicators: parameters is a canonical JSON object ('{}' when none) and part of the
-- key (its last column, as on SQLite): RSI {"period": 14} and RSI {"period": 21} are
-- two series.

-- migrate:up
ALTER TABLE accounts ADD COLUMN is_active integer NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1));
ALTER TABLE instruments ADD COLUMN is_active integer NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1));

ALTER TABLE candles DROP CONSTRAINT candles_timeframe,
    ADD CONSTRAINT candles_timeframe CHECK (CASE timeframe WHEN '1m' THEN true
        WHEN '3m'  THEN extract(epoch FROM "timestamp") % 180 = 0
        WHEN '5m'  THEN extract(epoch FROM "timestamp") % 300 = 0
        WHEN '15m' THEN extract(epoch FROM "timestamp") % 900 = 0
        WHEN '30m' THEN extract(epoch FROM "timestamp") % 1800 = 0
        WHEN '1h'  THEN extract(epoch FROM "timestamp") % 3600 = 0
        WHEN '2h'  THEN extract(epoch FROM "timestamp") % 7200 = 0
        WHEN '4h'  THEN extract(epoch FROM "timestamp") % 14400 = 0
        WHEN '6h'  THEN extract(epoch FROM "timestamp") % 21600 = 0
        WHEN '8h'  THEN extract(epoch FROM "timestamp") % 28800 = 0
        WHEN '12h' THEN extract(epoch FROM "timestamp") % 43200 = 0
        WHEN '1d'  THEN extract(epoch FROM "timestamp") % 86400 = 0
        WHEN '3d'  THEN extract(epoch FROM "timestamp") % 259200 = 0
        WHEN '1w'  THEN (extract(epoch FROM "timestamp") - 345600) % 604800 = 0
        WHEN '1M'  THEN ("timestamp" AT TIME ZONE 'UTC') = date_trunc('month', "timestamp" AT TIME ZONE 'UTC')
        ELSE false END);

ALTER TABLE indicators DROP CONSTRAINT indicators_timeframe,
    ADD CONSTRAINT indicators_timeframe CHECK (timeframe IN ('1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M')),
    ADD COLUMN parameters text NOT NULL DEFAULT '{}'
        CHECK (json_typeof(parameters::json) = 'object' AND length(parameters) <= 10000),
    DROP CONSTRAINT indicators_pkey,
    ADD CONSTRAINT indicators_pkey PRIMARY KEY (exchange, symbol, timeframe, name, parameters, "timestamp", field);

-- migrate:down
-- Refuses (the step rolls back) while candles or indicators of the new timeframes are
-- stored, or two parameter sets of one indicator share a time: schema 11 cannot hold
-- them (the old checks and key are validated against the rows). Parameters of a single
-- set are dropped.
ALTER TABLE indicators DROP CONSTRAINT indicators_pkey,
    DROP COLUMN parameters,
    ADD CONSTRAINT indicators_pkey PRIMARY KEY (exchange, symbol, timeframe, name, "timestamp", field),
    DROP CONSTRAINT indicators_timeframe,
    ADD CONSTRAINT indicators_timeframe CHECK (timeframe IN ('1m', '5m', '15m', '1h', '4h', '1d', '1w'));

ALTER TABLE candles DROP CONSTRAINT candles_timeframe,
    ADD CONSTRAINT candles_timeframe CHECK (CASE timeframe WHEN '1m' THEN true
        WHEN '5m'  THEN extract(epoch FROM "timestamp") % 300 = 0
        WHEN '15m' THEN extract(epoch FROM "timestamp") % 900 = 0
        WHEN '1h'  THEN extract(epoch FROM "timestamp") % 3600 = 0
        WHEN '4h'  THEN extract(epoch FROM "timestamp") % 14400 = 0
        WHEN '1d'  THEN extract(epoch FROM "timestamp") % 86400 = 0
        WHEN '1w'  THEN (extract(epoch FROM "timestamp") - 345600) % 604800 = 0
        ELSE false END);

ALTER TABLE instruments DROP COLUMN is_active;
ALTER TABLE accounts DROP COLUMN is_active;
