-- Analytics views that answer like the library (issue 15 points 6 and 8): amounts of two
-- quote currencies are never added, so every statistic is grouped by currency as well
-- ('' = round trips whose symbol names no currency); "trades" are closed round trips.
-- The library computes the same figures in Python over the raw columns (16.1); a test
-- keeps the two equal. Only functions the sqlite3 shell has are used.

-- migrate:up
DROP VIEW v_trade_stats;
DROP VIEW v_strategy_performance;
DROP VIEW v_symbol_performance;

-- Trade statistics per account and quote currency over all closed round trips.
CREATE VIEW v_trade_stats AS
SELECT account,
       coalesce(currency, '') AS currency,
       count(*) AS total_trades,
       sum(outcome = 1) AS winning_trades,
       sum(outcome = -1) AS losing_trades,
       CAST(sum(outcome = 1) AS REAL) / count(*) AS win_rate,
       coalesce(decimal_sum(CASE WHEN outcome = 1 THEN pnl END), '0') AS gross_profit,
       coalesce(decimal_sum(CASE WHEN outcome = -1 THEN pnl END), '0') AS gross_loss,
       decimal_sum(pnl) AS net_pnl,
       decimal_sum(fees) AS total_fees,
       max(CASE WHEN outcome = 1 THEN pnl END COLLATE decimal) AS largest_win,
       min(CASE WHEN outcome = -1 THEN pnl END COLLATE decimal) AS largest_loss,
       avg(holding_seconds) AS avg_holding_seconds
FROM v_round_trips
GROUP BY account, coalesce(currency, '');

-- Per strategy, symbol, exchange and currency, from the same round trips: one row per
-- group and quote currency (all accounts; filter v_round_trips for one).
CREATE VIEW v_strategy_performance AS
SELECT coalesce(strategy, '') AS strategy,
       coalesce(currency, '') AS currency,
       count(*) AS trades,
       sum(outcome = 1) AS wins,
       CAST(sum(outcome = 1) AS REAL) / count(*) AS win_rate,
       decimal_sum(pnl) AS net_pnl,
       decimal_sum(fees) AS fees,
       coalesce(decimal_sum(CASE WHEN outcome = 1 THEN pnl END), '0') AS gross_profit,
       coalesce(decimal_sum(CASE WHEN outcome = -1 THEN pnl END), '0') AS gross_loss
FROM v_round_trips
GROUP BY coalesce(strategy, ''), coalesce(currency, '');

CREATE VIEW v_symbol_performance AS
SELECT symbol,
       coalesce(currency, '') AS currency,
       count(*) AS trades,
       sum(outcome = 1) AS wins,
       CAST(sum(outcome = 1) AS REAL) / count(*) AS win_rate,
       decimal_sum(pnl) AS net_pnl,
       decimal_sum(fees) AS fees,
       coalesce(decimal_sum(CASE WHEN outcome = 1 THEN pnl END), '0') AS gross_profit,
       coalesce(decimal_sum(CASE WHEN outcome = -1 THEN pnl END), '0') AS gross_loss
FROM v_round_trips
GROUP BY symbol, coalesce(currency, '');

CREATE VIEW v_exchange_performance AS
SELECT exchange,
       coalesce(currency, '') AS currency,
       count(*) AS trades,
       sum(outcome = 1) AS wins,
       CAST(sum(outcome = 1) AS REAL) / count(*) AS win_rate,
       decimal_sum(pnl) AS net_pnl,
       decimal_sum(fees) AS fees,
       coalesce(decimal_sum(CASE WHEN outcome = 1 THEN pnl END), '0') AS gross_profit,
       coalesce(decimal_sum(CASE WHEN outcome = -1 THEN pnl END), '0') AS gross_loss
FROM v_round_trips
GROUP BY exchange, coalesce(currency, '');

-- Fees in a third currency given without a quote value: left out of pnl, summed here per
-- account, round-trip currency and fee currency.
CREATE VIEW v_unvalued_fees AS
SELECT p.account, coalesce(p.currency, '') AS currency, f.key AS fee_currency,
       decimal_sum(f.value) AS amount
FROM positions AS p, json_each(p.unvalued_fees) AS f
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
       sum(outcome = 1) AS winning_trades,
       sum(outcome = -1) AS losing_trades,
       CAST(sum(outcome = 1) AS REAL) / count(*) AS win_rate,
       coalesce(decimal_sum(CASE WHEN outcome = 1 THEN pnl END), '0') AS gross_profit,
       coalesce(decimal_sum(CASE WHEN outcome = -1 THEN pnl END), '0') AS gross_loss,
       decimal_sum(pnl) AS net_pnl,
       decimal_sum(fees) AS total_fees,
       max(CASE WHEN outcome = 1 THEN pnl END COLLATE decimal) AS largest_win,
       min(CASE WHEN outcome = -1 THEN pnl END COLLATE decimal) AS largest_loss,
       avg(holding_seconds) AS avg_holding_seconds
FROM v_round_trips
GROUP BY account;

CREATE VIEW v_strategy_performance AS
SELECT coalesce(strategy, '') AS strategy,
       count(*) AS trades,
       sum(outcome = 1) AS wins,
       CAST(sum(outcome = 1) AS REAL) / count(*) AS win_rate,
       decimal_sum(pnl) AS net_pnl,
       decimal_sum(fees) AS fees,
       coalesce(decimal_sum(CASE WHEN outcome = 1 THEN pnl END), '0') AS gross_profit,
       coalesce(decimal_sum(CASE WHEN outcome = -1 THEN pnl END), '0') AS gross_loss
FROM v_round_trips
GROUP BY coalesce(strategy, '');

CREATE VIEW v_symbol_performance AS
SELECT symbol,
       count(*) AS trades,
       sum(outcome = 1) AS wins,
       CAST(sum(outcome = 1) AS REAL) / count(*) AS win_rate,
       decimal_sum(pnl) AS net_pnl,
       decimal_sum(fees) AS fees,
       coalesce(decimal_sum(CASE WHEN outcome = 1 THEN pnl END), '0') AS gross_profit,
       coalesce(decimal_sum(CASE WHEN outcome = -1 THEN pnl END), '0') AS gross_loss
FROM v_round_trips
GROUP BY symbol;
