-- The trading record keyed per venue, in time order, with fees in their currency and
-- corrections (issue 15 points 3, 4, 5, 7). PostgreSQL version of schema/0008_record_keys.sql;
-- see that file for what each column means. Positions are re-keyed here as far as SQL
-- can; TradeRepo replays every key from the fills right after this migration.
-- v_round_trips gains columns at its end, which CREATE OR REPLACE VIEW allows while the
-- views built on it stay; going down removes columns, so the down block drops and
-- re-creates those views (PostgreSQL keeps views bound to what they read, SQLite does not).

-- migrate:up
ALTER TABLE positions ADD COLUMN exchange text NOT NULL DEFAULT '';
ALTER TABLE positions ADD COLUMN currency text CHECK (length(currency) BETWEEN 1 AND 200);
ALTER TABLE positions ADD COLUMN strategy text;
ALTER TABLE positions ADD COLUMN unvalued_fees text CHECK (unvalued_fees IS NULL OR json_typeof(unvalued_fees::json) = 'object');

ALTER TABLE trades ADD COLUMN kind text NOT NULL DEFAULT 'TRADE' CHECK (kind IN ('TRADE', 'ADJUSTMENT'));
ALTER TABLE trades ADD COLUMN fee_value exact_money CHECK (fee_value >= 0);
ALTER TABLE trades ADD COLUMN voided_at utc_time;
ALTER TABLE trades ADD COLUMN void_reason text;

ALTER TABLE instruments ADD COLUMN base_currency text CHECK (length(base_currency) BETWEEN 1 AND 200);
ALTER TABLE instruments ADD COLUMN quote_currency text CHECK (length(quote_currency) BETWEEN 1 AND 200);

-- Existing positions: venue of their first fill, strategy of their opening fill,
-- currency from the symbol (QUOTE of BASE/QUOTE, SETTLE of BASE/QUOTE:SETTLE).
UPDATE positions SET
    exchange = coalesce((SELECT t.exchange FROM trades t
                         WHERE t.position_id = positions.id OR t.opened_position_id = positions.id
                         ORDER BY t."timestamp", t.id LIMIT 1), ''),
    strategy = coalesce((SELECT t.strategy FROM trades t WHERE t.opened_position_id = positions.id
                         ORDER BY t.id LIMIT 1),
                        (SELECT t.strategy FROM trades t WHERE t.position_id = positions.id
                         ORDER BY t."timestamp", t.id LIMIT 1)),
    currency = CASE
        WHEN strpos(symbol, '/') = 0 THEN NULL
        WHEN strpos(substr(symbol, strpos(symbol, '/') + 1), ':') > 0
            THEN nullif(substr(symbol, strpos(symbol, ':') + 1), '')
        ELSE nullif(substr(symbol, strpos(symbol, '/') + 1), '') END;

DROP INDEX positions_open;
CREATE UNIQUE INDEX positions_open ON positions (account, exchange, symbol) WHERE closed_at IS NULL;
CREATE INDEX positions_by_closed_account ON positions (closed_at, account) WHERE closed_at IS NOT NULL;
CREATE INDEX positions_by_key ON positions (account, exchange, symbol, id);
CREATE INDEX trades_replay ON trades (account, exchange, symbol, "timestamp", id) WHERE voided_at IS NULL;

-- A closed position is one round trip. Its strategy is that of the fill that opened it.
-- outcome: 1 win, -1 loss, 0 break-even (pnl exactly zero).
CREATE OR REPLACE VIEW v_round_trips AS
SELECT p.id, p.account, p.symbol, p.side, p.max_quantity AS quantity, p.realized_pnl AS pnl,
       p.fees, p.trade_count, p.opened_at, p.closed_at,
       holding_seconds(p.opened_at, p.closed_at) AS holding_seconds,
       p.strategy,
       CASE WHEN p.realized_pnl = 0 THEN 0 WHEN p.realized_pnl < 0 THEN -1 ELSE 1 END AS outcome,
       p.exchange, p.currency
FROM positions p
WHERE p.closed_at IS NOT NULL;

-- migrate:down
DROP VIEW v_symbol_performance;
DROP VIEW v_strategy_performance;
DROP VIEW v_trade_stats;
DROP VIEW v_round_trips;
-- 0007's views, as 0007 made them
CREATE VIEW v_round_trips AS
SELECT p.id, p.account, p.symbol, p.side, p.max_quantity AS quantity, p.realized_pnl AS pnl,
       p.fees, p.trade_count, p.opened_at, p.closed_at,
       holding_seconds(p.opened_at, p.closed_at) AS holding_seconds,
       coalesce((SELECT t.strategy FROM trades t WHERE t.opened_position_id = p.id ORDER BY t.id LIMIT 1),
                (SELECT t.strategy FROM trades t WHERE t.position_id = p.id ORDER BY t.id LIMIT 1))
           AS strategy,
       CASE WHEN p.realized_pnl = 0 THEN 0 WHEN p.realized_pnl < 0 THEN -1 ELSE 1 END AS outcome
FROM positions p
WHERE p.closed_at IS NOT NULL;

CREATE VIEW v_trade_stats AS
SELECT account,
       count(*) AS total_trades,
       count(*) FILTER (WHERE outcome = 1) AS winning_trades,
       count(*) FILTER (WHERE outcome = -1) AS losing_trades,
       (count(*) FILTER (WHERE outcome = 1))::double precision / count(*) AS win_rate,
       coalesce(sum(pnl) FILTER (WHERE outcome = 1), 0) AS gross_profit,
       coalesce(sum(pnl) FILTER (WHERE outcome = -1), 0) AS gross_loss,
       sum(pnl) AS net_pnl,
       sum(fees) AS total_fees,
       max(pnl) FILTER (WHERE outcome = 1) AS largest_win,
       min(pnl) FILTER (WHERE outcome = -1) AS largest_loss,
       avg(holding_seconds) AS avg_holding_seconds
FROM v_round_trips
GROUP BY account;

CREATE VIEW v_strategy_performance AS
SELECT coalesce(strategy, '') AS strategy,
       count(*) AS trades,
       count(*) FILTER (WHERE outcome = 1) AS wins,
       (count(*) FILTER (WHERE outcome = 1))::double precision / count(*) AS win_rate,
       sum(pnl) AS net_pnl,
       sum(fees) AS fees,
       coalesce(sum(pnl) FILTER (WHERE outcome = 1), 0) AS gross_profit,
       coalesce(sum(pnl) FILTER (WHERE outcome = -1), 0) AS gross_loss
FROM v_round_trips
GROUP BY coalesce(strategy, '');

CREATE VIEW v_symbol_performance AS
SELECT symbol,
       count(*) AS trades,
       count(*) FILTER (WHERE outcome = 1) AS wins,
       (count(*) FILTER (WHERE outcome = 1))::double precision / count(*) AS win_rate,
       sum(pnl) AS net_pnl,
       sum(fees) AS fees,
       coalesce(sum(pnl) FILTER (WHERE outcome = 1), 0) AS gross_profit,
       coalesce(sum(pnl) FILTER (WHERE outcome = -1), 0) AS gross_loss
FROM v_round_trips
GROUP BY symbol;

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
