-- The trading record keyed per venue, in time order, with fees in their currency and
-- corrections (issue 15 points 3, 4, 5, 7).
-- positions: keyed by (account, exchange, symbol); currency = quote currency (settle for
--   BASE/QUOTE:SETTLE, NULL when unknown); strategy = that of the fill that opened the
--   round trip; unvalued_fees = JSON {currency: "amount"} of fees in a third currency
--   given without a quote value (left out of pnl), NULL when none.
-- trades: kind TRADE or ADJUSTMENT (a change made outside the bot); fee_value = the fee's
--   value in quote currency when the fee is in a third currency; voided_at/void_reason:
--   a voided fill is kept for the audit trail and applies to nothing.
-- instruments: base_currency / quote_currency for symbols that do not spell them.
-- Positions are re-keyed here as far as SQL can; TradeRepo replays every key from the
-- fills right after this migration (only a replay can split round trips whose fills
-- came from two venues).

-- migrate:up
ALTER TABLE positions ADD COLUMN exchange TEXT NOT NULL DEFAULT '';
ALTER TABLE positions ADD COLUMN currency TEXT CHECK (currency IS NULL OR length(currency) BETWEEN 1 AND 200);
ALTER TABLE positions ADD COLUMN strategy TEXT;
ALTER TABLE positions ADD COLUMN unvalued_fees TEXT CHECK (unvalued_fees IS NULL OR (json_valid(unvalued_fees) AND json_type(unvalued_fees) = 'object'));

ALTER TABLE trades ADD COLUMN kind TEXT NOT NULL DEFAULT 'TRADE' CHECK (kind IN ('TRADE', 'ADJUSTMENT'));
ALTER TABLE trades ADD COLUMN fee_value TEXT CHECK (fee_value IS NULL OR (typeof(fee_value) = 'text' AND fee_value GLOB '*[0-9]*' AND fee_value NOT GLOB '*[^0-9.]*' AND fee_value NOT GLOB '*.*.*' AND fee_value GLOB '*[0-9]' AND length(fee_value) <= 65));
ALTER TABLE trades ADD COLUMN voided_at TEXT CHECK (voided_at IS NULL OR voided_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z');
ALTER TABLE trades ADD COLUMN void_reason TEXT;

ALTER TABLE instruments ADD COLUMN base_currency TEXT CHECK (base_currency IS NULL OR length(base_currency) BETWEEN 1 AND 200);
ALTER TABLE instruments ADD COLUMN quote_currency TEXT CHECK (quote_currency IS NULL OR length(quote_currency) BETWEEN 1 AND 200);

-- Existing positions: venue of their first fill, strategy of their opening fill,
-- currency from the symbol (QUOTE of BASE/QUOTE, SETTLE of BASE/QUOTE:SETTLE).
UPDATE positions SET
    exchange = coalesce((SELECT t.exchange FROM trades t
                         WHERE t.position_id = positions.id OR t.opened_position_id = positions.id
                         ORDER BY t.timestamp, t.id LIMIT 1), ''),
    strategy = coalesce((SELECT t.strategy FROM trades t WHERE t.opened_position_id = positions.id),
                        (SELECT t.strategy FROM trades t WHERE t.position_id = positions.id
                         ORDER BY t.timestamp, t.id LIMIT 1)),
    currency = CASE
        WHEN instr(symbol, '/') = 0 THEN NULL
        WHEN instr(substr(symbol, instr(symbol, '/') + 1), ':') > 0
            THEN nullif(substr(symbol, instr(symbol, ':') + 1), '')
        ELSE nullif(substr(symbol, instr(symbol, '/') + 1), '') END;

DROP INDEX positions_open;
CREATE UNIQUE INDEX positions_open ON positions (account, exchange, symbol) WHERE closed_at IS NULL;
CREATE INDEX positions_by_closed_account ON positions (closed_at, account) WHERE closed_at IS NOT NULL;
CREATE INDEX positions_by_key ON positions (account, exchange, symbol, id);
CREATE INDEX trades_replay ON trades (account, exchange, symbol, timestamp, id) WHERE voided_at IS NULL;

DROP VIEW v_round_trips;
-- A closed position is one round trip. Its strategy is that of the fill that opened it.
-- outcome: 1 win, -1 loss, 0 break-even (pnl exactly zero).
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
       coalesce((SELECT t.strategy FROM trades t WHERE t.opened_position_id = p.id),
                (SELECT t.strategy FROM trades t WHERE t.position_id = p.id ORDER BY t.id LIMIT 1))
           AS strategy,
       CASE WHEN ltrim(p.realized_pnl, '-') NOT GLOB '*[1-9]*' THEN 0
            WHEN p.realized_pnl GLOB '-*' THEN -1 ELSE 1 END AS outcome
FROM positions p
WHERE p.closed_at IS NOT NULL;
DROP INDEX trades_replay;
DROP INDEX positions_by_key;
DROP INDEX positions_by_closed_account;
DROP INDEX positions_open;
-- Refuses (the whole step rolls back) while two venues each hold an open position of one
-- (account, symbol): schema 7 cannot represent that.
CREATE UNIQUE INDEX positions_open ON positions (account, symbol) WHERE closed_at IS NULL;
ALTER TABLE instruments DROP COLUMN quote_currency;
ALTER TABLE instruments DROP COLUMN base_currency;
ALTER TABLE trades DROP COLUMN void_reason;
ALTER TABLE trades DROP COLUMN voided_at;
ALTER TABLE trades DROP COLUMN fee_value;
ALTER TABLE trades DROP COLUMN kind;
ALTER TABLE positions DROP COLUMN unvalued_fees;
ALTER TABLE positions DROP COLUMN strategy;
ALTER TABLE positions DROP COLUMN currency;
ALTER TABLE positions DROP COLUMN exchange;
