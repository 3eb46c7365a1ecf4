-- Futures and margin, round trips in full (issue 17). See docs/futures.md.
-- instruments: kind, contract_size (multiplier), inverse, settle_currency, expiry.
-- trades: liquidation flag, commission (a second cost beside fees), leverage, margin
--   (initial margin posted), margin_mode, liquidation_price (as the exchange gave it).
-- positions: the round trip in full (entered/exited quantity and value, average entry
--   and exit prices, funding, commission, how it closed, contract terms, margin).
-- funding_payments: funding of perpetuals, attached to the position of its key open at
--   its timestamp (replayed with the fills). TradeRepo rebuilds every key after this step.

-- migrate:up
ALTER TABLE instruments ADD COLUMN kind TEXT CHECK (kind IS NULL OR kind IN ('spot', 'perpetual', 'future', 'option'));
ALTER TABLE instruments ADD COLUMN contract_size TEXT CHECK (contract_size IS NULL OR (typeof(contract_size) = 'text' AND contract_size GLOB '*[1-9]*' AND contract_size NOT GLOB '*[^0-9.]*' AND contract_size NOT GLOB '*.*.*' AND contract_size GLOB '*[0-9]' AND length(contract_size) <= 65));
ALTER TABLE instruments ADD COLUMN inverse INTEGER NOT NULL DEFAULT 0 CHECK (inverse IN (0, 1));
ALTER TABLE instruments ADD COLUMN settle_currency TEXT CHECK (settle_currency IS NULL OR length(settle_currency) BETWEEN 1 AND 200);
ALTER TABLE instruments ADD COLUMN expiry TEXT CHECK (expiry IS NULL OR expiry GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z');
ALTER TABLE trades ADD COLUMN liquidation INTEGER NOT NULL DEFAULT 0 CHECK (liquidation IN (0, 1));
ALTER TABLE trades ADD COLUMN commission TEXT NOT NULL DEFAULT '0' CHECK (typeof(commission) = 'text' AND commission GLOB '*[0-9]*' AND commission NOT GLOB '*[^0-9.]*' AND commission NOT GLOB '*.*.*' AND commission GLOB '*[0-9]' AND length(commission) <= 65);
ALTER TABLE trades ADD COLUMN commission_currency TEXT;
ALTER TABLE trades ADD COLUMN leverage TEXT CHECK (leverage IS NULL OR (typeof(leverage) = 'text' AND leverage GLOB '*[1-9]*' AND leverage NOT GLOB '*[^0-9.]*' AND leverage NOT GLOB '*.*.*' AND leverage GLOB '*[0-9]' AND length(leverage) <= 65));
ALTER TABLE trades ADD COLUMN margin TEXT CHECK (margin IS NULL OR (typeof(margin) = 'text' AND margin GLOB '*[0-9]*' AND margin NOT GLOB '*[^0-9.]*' AND margin NOT GLOB '*.*.*' AND margin GLOB '*[0-9]' AND length(margin) <= 65));
ALTER TABLE trades ADD COLUMN margin_mode TEXT CHECK (margin_mode IS NULL OR margin_mode IN ('isolated', 'cross'));
ALTER TABLE trades ADD COLUMN liquidation_price TEXT CHECK (liquidation_price IS NULL OR (typeof(liquidation_price) = 'text' AND liquidation_price GLOB '*[0-9]*' AND liquidation_price NOT GLOB '*[^0-9.]*' AND liquidation_price NOT GLOB '*.*.*' AND liquidation_price GLOB '*[0-9]' AND length(liquidation_price) <= 65));
ALTER TABLE positions ADD COLUMN entered_quantity TEXT NOT NULL DEFAULT '0' CHECK (typeof(entered_quantity) = 'text' AND entered_quantity GLOB '*[0-9]*' AND entered_quantity NOT GLOB '*[^0-9.]*' AND entered_quantity NOT GLOB '*.*.*' AND entered_quantity GLOB '*[0-9]' AND length(entered_quantity) <= 65);
ALTER TABLE positions ADD COLUMN entered_value TEXT NOT NULL DEFAULT '0' CHECK (typeof(entered_value) = 'text' AND entered_value GLOB '*[0-9]*' AND entered_value NOT GLOB '*[^0-9.]*' AND entered_value NOT GLOB '*.*.*' AND entered_value GLOB '*[0-9]' AND length(entered_value) <= 65);
ALTER TABLE positions ADD COLUMN exited_quantity TEXT NOT NULL DEFAULT '0' CHECK (typeof(exited_quantity) = 'text' AND exited_quantity GLOB '*[0-9]*' AND exited_quantity NOT GLOB '*[^0-9.]*' AND exited_quantity NOT GLOB '*.*.*' AND exited_quantity GLOB '*[0-9]' AND length(exited_quantity) <= 65);
ALTER TABLE positions ADD COLUMN exit_value TEXT NOT NULL DEFAULT '0' CHECK (typeof(exit_value) = 'text' AND exit_value GLOB '*[0-9]*' AND exit_value NOT GLOB '*[^0-9.]*' AND exit_value NOT GLOB '*.*.*' AND exit_value GLOB '*[0-9]' AND length(exit_value) <= 65);
ALTER TABLE positions ADD COLUMN avg_exit_price TEXT CHECK (avg_exit_price IS NULL OR (typeof(avg_exit_price) = 'text' AND avg_exit_price GLOB '*[0-9]*' AND avg_exit_price NOT GLOB '*[^0-9.]*' AND avg_exit_price NOT GLOB '*.*.*' AND avg_exit_price GLOB '*[0-9]' AND length(avg_exit_price) <= 65));
ALTER TABLE positions ADD COLUMN round_trip_entry_price TEXT CHECK (round_trip_entry_price IS NULL OR (typeof(round_trip_entry_price) = 'text' AND round_trip_entry_price GLOB '*[0-9]*' AND round_trip_entry_price NOT GLOB '*[^0-9.]*' AND round_trip_entry_price NOT GLOB '*.*.*' AND round_trip_entry_price GLOB '*[0-9]' AND length(round_trip_entry_price) <= 65));
ALTER TABLE positions ADD COLUMN funding TEXT NOT NULL DEFAULT '0' CHECK (typeof(funding) = 'text' AND funding GLOB '*[0-9]*' AND funding NOT GLOB '*[^0-9.-]*' AND funding NOT GLOB '?*-*' AND funding NOT GLOB '*.*.*' AND funding GLOB '*[0-9]' AND length(funding) <= 65);
ALTER TABLE positions ADD COLUMN commission TEXT NOT NULL DEFAULT '0' CHECK (typeof(commission) = 'text' AND commission GLOB '*[0-9]*' AND commission NOT GLOB '*[^0-9.-]*' AND commission NOT GLOB '?*-*' AND commission NOT GLOB '*.*.*' AND commission GLOB '*[0-9]' AND length(commission) <= 65);
ALTER TABLE positions ADD COLUMN trading_pnl TEXT NOT NULL DEFAULT '0' CHECK (typeof(trading_pnl) = 'text' AND trading_pnl GLOB '*[0-9]*' AND trading_pnl NOT GLOB '*[^0-9.-]*' AND trading_pnl NOT GLOB '?*-*' AND trading_pnl NOT GLOB '*.*.*' AND trading_pnl GLOB '*[0-9]' AND length(trading_pnl) <= 65);
ALTER TABLE positions ADD COLUMN closed_by TEXT CHECK (closed_by IS NULL OR closed_by IN ('trade', 'liquidation', 'adjustment'));
ALTER TABLE positions ADD COLUMN contract_size TEXT NOT NULL DEFAULT '1' CHECK (typeof(contract_size) = 'text' AND contract_size GLOB '*[1-9]*' AND contract_size NOT GLOB '*[^0-9.]*' AND contract_size NOT GLOB '*.*.*' AND contract_size GLOB '*[0-9]' AND length(contract_size) <= 65);
ALTER TABLE positions ADD COLUMN inverse INTEGER NOT NULL DEFAULT 0 CHECK (inverse IN (0, 1));
ALTER TABLE positions ADD COLUMN leverage TEXT CHECK (leverage IS NULL OR (typeof(leverage) = 'text' AND leverage GLOB '*[1-9]*' AND leverage NOT GLOB '*[^0-9.]*' AND leverage NOT GLOB '*.*.*' AND leverage GLOB '*[0-9]' AND length(leverage) <= 65));
ALTER TABLE positions ADD COLUMN margin TEXT NOT NULL DEFAULT '0' CHECK (typeof(margin) = 'text' AND margin GLOB '*[0-9]*' AND margin NOT GLOB '*[^0-9.]*' AND margin NOT GLOB '*.*.*' AND margin GLOB '*[0-9]' AND length(margin) <= 65);
ALTER TABLE positions ADD COLUMN margin_mode TEXT CHECK (margin_mode IS NULL OR margin_mode IN ('isolated', 'cross'));
ALTER TABLE positions ADD COLUMN liquidation_price TEXT CHECK (liquidation_price IS NULL OR (typeof(liquidation_price) = 'text' AND liquidation_price GLOB '*[0-9]*' AND liquidation_price NOT GLOB '*[^0-9.]*' AND liquidation_price NOT GLOB '*.*.*' AND liquidation_price GLOB '*[0-9]' AND length(liquidation_price) <= 65));

-- amount: signed, in the settle currency (positive = received, negative = paid).
CREATE TABLE funding_payments (
    id          INTEGER PRIMARY KEY,
    account     TEXT NOT NULL CHECK (length(account) BETWEEN 1 AND 200),
    exchange    TEXT NOT NULL DEFAULT '',
    symbol      TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 200),
    amount      TEXT NOT NULL CHECK (typeof(amount) = 'text' AND amount GLOB '*[0-9]*' AND amount NOT GLOB '*[^0-9.-]*' AND amount NOT GLOB '?*-*' AND amount NOT GLOB '*.*.*' AND amount GLOB '*[0-9]' AND length(amount) <= 65),
    currency    TEXT CHECK (currency IS NULL OR length(currency) BETWEEN 1 AND 200),
    timestamp   TEXT NOT NULL CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    external_id TEXT,
    position_id INTEGER REFERENCES positions (id),
    metadata    TEXT CHECK (metadata IS NULL OR (json_valid(metadata) AND json_type(metadata) = 'object')),
    created_at  TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE UNIQUE INDEX funding_by_external_id ON funding_payments (exchange, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX funding_by_key ON funding_payments (account, exchange, symbol, timestamp, id);
CREATE INDEX funding_by_position ON funding_payments (position_id) WHERE position_id IS NOT NULL;
CREATE INDEX funding_by_time ON funding_payments (timestamp);

DROP VIEW v_round_trips;
-- A closed position is one round trip. pnl = trading_pnl + funding - fees (fees = every
-- cost: fees and commission). Only core SQLite here, so any sqlite3 reads it; the
-- percentages are REAL, for reading (the library's are exact Decimals).
CREATE VIEW v_round_trips AS
SELECT p.id, p.account, p.symbol, p.side, p.max_quantity AS quantity, p.realized_pnl AS pnl,
       p.fees, p.trade_count, p.opened_at, p.closed_at,
       (strftime('%s', p.closed_at) - strftime('%s', p.opened_at))
           + (substr(p.closed_at, 21, 6) - substr(p.opened_at, 21, 6)) / 1000000.0
           AS holding_seconds,
       p.strategy,
       CASE WHEN ltrim(p.realized_pnl, '-') NOT GLOB '*[1-9]*' THEN 0
            WHEN p.realized_pnl GLOB '-*' THEN -1 ELSE 1 END AS outcome,
       p.exchange, p.currency,
       p.trading_pnl,
       p.funding, p.commission, p.closed_by,
       p.round_trip_entry_price AS avg_entry_price, p.avg_exit_price,
       p.entered_quantity, p.exited_quantity, p.max_quantity,
       p.entered_value AS entry_value, p.exit_value,
       p.contract_size, p.inverse, p.leverage, p.margin, p.margin_mode,
       CASE WHEN p.entered_value GLOB '*[1-9]*'
            THEN 100.0 * CAST(p.realized_pnl AS REAL) / CAST(p.entered_value AS REAL) END AS pnl_pct,
       CASE WHEN p.margin GLOB '*[1-9]*'
            THEN 100.0 * CAST(p.realized_pnl AS REAL) / CAST(p.margin AS REAL) END AS roe_pct
FROM positions p
WHERE p.closed_at IS NOT NULL;

-- migrate:down
DROP VIEW v_round_trips;
CREATE VIEW v_round_trips AS
SELECT p.id, p.account, p.symbol, p.side, p.max_quantity AS quantity, p.realized_pnl AS pnl,
       p.fees, p.trade_count, p.opened_at, p.closed_at,
       -- whole seconds from strftime('%s') plus the microsecond digits: exact, where a
       -- julianday difference is rounded to milliseconds and off by float error.
       (strftime('%s', p.closed_at) - strftime('%s', p.opened_at))
           + (substr(p.closed_at, 21, 6) - substr(p.opened_at, 21, 6)) / 1000000.0
           AS holding_seconds,
       p.strategy,
       CASE WHEN ltrim(p.realized_pnl, '-') NOT GLOB '*[1-9]*' THEN 0
            WHEN p.realized_pnl GLOB '-*' THEN -1 ELSE 1 END AS outcome,
       p.exchange, p.currency
FROM positions p
WHERE p.closed_at IS NOT NULL;
DROP TABLE funding_payments;
ALTER TABLE positions DROP COLUMN liquidation_price;
ALTER TABLE positions DROP COLUMN margin_mode;
ALTER TABLE positions DROP COLUMN margin;
ALTER TABLE positions DROP COLUMN leverage;
ALTER TABLE positions DROP COLUMN inverse;
ALTER TABLE positions DROP COLUMN contract_size;
ALTER TABLE positions DROP COLUMN closed_by;
ALTER TABLE positions DROP COLUMN commission;
ALTER TABLE positions DROP COLUMN trading_pnl;
ALTER TABLE positions DROP COLUMN funding;
ALTER TABLE positions DROP COLUMN round_trip_entry_price;
ALTER TABLE positions DROP COLUMN avg_exit_price;
ALTER TABLE positions DROP COLUMN exit_value;
ALTER TABLE positions DROP COLUMN exited_quantity;
ALTER TABLE positions DROP COLUMN entered_value;
ALTER TABLE positions DROP COLUMN entered_quantity;
ALTER TABLE trades DROP COLUMN liquidation_price;
ALTER TABLE trades DROP COLUMN margin_mode;
ALTER TABLE trades DROP COLUMN margin;
ALTER TABLE trades DROP COLUMN leverage;
ALTER TABLE trades DROP COLUMN commission_currency;
ALTER TABLE trades DROP COLUMN commission;
ALTER TABLE trades DROP COLUMN liquidation;
ALTER TABLE instruments DROP COLUMN expiry;
ALTER TABLE instruments DROP COLUMN settle_currency;
ALTER TABLE instruments DROP COLUMN inverse;
ALTER TABLE instruments DROP COLUMN contract_size;
ALTER TABLE instruments DROP COLUMN kind;
