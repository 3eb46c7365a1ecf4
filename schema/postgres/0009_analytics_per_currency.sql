-- Analytics views that answer like the library (issue 15 points 6 and 8): amounts of two
-- quote currencies are never added, so every statistic is grouped by currency as well
-- ('' = round trips whose symbol names no currency); "trades" are closed round trips.
-- PostgreSQL version of schema/0009_analytics_per_currency.sql (sum/min/max over NUMERIC
-- for decimal_sum and COLLATE decimal; json_each_text for json_each).

-- migrate:up
DROP VIEW v_trade_stats;
DROP VIEW v_strategy_performance;
DROP VIEW v_symbol_performance;

-- Trade statistics per account and quote currency over all closed round trips.
CREATE VIEW v_trade_stats AS
SELECT account,
       coalesce(currency, '') AS currency,
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
GROUP BY account, coalesce(currency, '');

-- Per strategy, symbol, exchange and currency, from the same round trips: one row per
-- group and quote currency (all accounts; filter v_round_trips for one).
CREATE VIEW v_strategy_performance AS
SELECT coalesce(strategy, '') AS strategy,
       coalesce(currency, '') AS currency,
       count(*) AS trades,
       count(*) FILTER (WHERE outcome = 1) AS wins,
       (count(*) FILTER (WHERE outcome = 1))::double precision / count(*) AS win_rate,
       sum(pnl) AS net_pnl,
       sum(fees) AS fees,
       coalesce(sum(pnl) FILTER (WHERE outcome = 1), 0) AS gross_profit,
       coalesce(sum(pnl) FILTER (WHERE outcome = -1), 0) AS gross_loss
FROM v_round_trips
GROUP BY coalesce(strategy, ''), coalesce(currency, '');

CREATE VIEW v_symbol_performance AS
SELECT symbol,
       coalesce(currency, '') AS currency,
       count(*) AS trades,
       count(*) FILTER (WHERE outcome = 1) AS wins,
       (count(*) FILTER (WHERE outcome = 1))::double precision / count(*) AS win_rate,
       sum(pnl) AS net_pnl,
       sum(fees) AS fees,
       coalesce(sum(pnl) FILTER (WHERE outcome = 1), 0) AS gross_profit,
       coalesce(sum(pnl) FILTER (WHERE outcome = -1), 0) AS gross_loss
FROM v_round_trips
GROUP BY symbol, coalesce(currency, '');

CREATE VIEW v_exchange_performance AS
SELECT exchange,
       coalesce(currency, '') AS currency,
       count(*) AS trades,
       count(*) FILTER (WHERE outcome = 1) AS wins,
       (count(*) FILTER (WHERE outcome = 1))::double precision / count(*) AS win_rate,
       sum(pnl) AS net_pnl,
       sum(fees) AS fees,
       coalesce(sum(pnl) FILTER (WHERE outcome = 1), 0) AS gross_profit,
       coalesce(sum(pnl) FILTER (WHERE outcome = -1), 0) AS gross_loss
FROM v_round_trips
GROUP BY exchange, coalesce(currency, '');

-- Fees in a third currency given without a quote value: left out of pnl, summed here per
-- account, round-trip currency and fee currency.
CREATE VIEW v_unvalued_fees AS
SELECT p.account, coalesce(p.currency, '') AS currency, f.key AS fee_currency,
       sum(f.value::numeric) AS amount
FROM positions AS p, json_each_text(p.unvalued_fees::json) AS f
WHERE p.closed_at IS NOT NULL AND p.unvalued_fees IS NOT NULL
GROUP BY p.account, coalesce(p.currency, ''), f.key;

-- migrate:down
DROP VIEW v_unvalued_fees;
DROP VIEW v_exchange_performance;
DROP VIEW v_symbol_performance;
DROP VIEW v_strategy_performance;
DROP VIEW v_trade_stats;

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
