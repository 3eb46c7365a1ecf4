-- Analytics as views, so `sqlite3 trades.db` gives the same numbers as the API.
-- Only functions the sqlite3 shell has are used (decimal_sum, decimal_add, the decimal
-- collation). A value's sign is read from its text, never with decimal_cmp, because
-- the shell's decimal_cmp ranks '0.00' above '0'.

-- migrate:up
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
       coalesce((SELECT t.strategy FROM trades t WHERE t.opened_position_id = p.id),
                (SELECT t.strategy FROM trades t WHERE t.position_id = p.id ORDER BY t.id LIMIT 1))
           AS strategy,
       CASE WHEN ltrim(p.realized_pnl, '-') NOT GLOB '*[1-9]*' THEN 0
            WHEN p.realized_pnl GLOB '-*' THEN -1 ELSE 1 END AS outcome
FROM positions p
WHERE p.closed_at IS NOT NULL;

-- Trade statistics per account over all closed round trips.
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

-- Per strategy and per symbol, from the same round trips (never stored twice).
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

-- The last portfolio value of each UTC day, per account; days without a snapshot carry
-- the previous value (grp counts the days that have one, so a gap shares its group).
CREATE VIEW v_daily_equity AS
WITH RECURSIVE
last_of_day AS (
    SELECT account, substr(timestamp, 1, 10) AS day, total_value,
           row_number() OVER (PARTITION BY account, substr(timestamp, 1, 10)
                              ORDER BY timestamp DESC) AS rank_in_day
    FROM portfolio_snapshots),
bounds AS (
    SELECT account, min(day) AS first_day, max(day) AS last_day FROM last_of_day GROUP BY account),
calendar (account, day, last_day) AS (
    SELECT account, first_day, last_day FROM bounds
    UNION ALL
    SELECT account, date(day, '+1 day'), last_day FROM calendar WHERE day < last_day),
marked AS (
    SELECT c.account, c.day, d.total_value,
           count(d.total_value) OVER (PARTITION BY c.account ORDER BY c.day) AS grp
    FROM calendar c
    LEFT JOIN last_of_day d ON d.account = c.account AND d.day = c.day AND d.rank_in_day = 1)
SELECT account, day, max(total_value) OVER (PARTITION BY account, grp) AS total_value
FROM marked;

-- migrate:down
DROP VIEW v_daily_equity;
DROP VIEW v_symbol_performance;
DROP VIEW v_strategy_performance;
DROP VIEW v_trade_stats;
DROP VIEW v_round_trips;
