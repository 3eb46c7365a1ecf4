-- Analytics as views, so `psql` gives the same numbers as the API.
-- PostgreSQL version of schema/0007_analytics_views.sql. sum(), min() and max() over
-- NUMERIC are exact here, so they stand for SQLite's decimal_sum and COLLATE decimal;
-- money columns of these views are numeric (text on SQLite: both read as Decimal).
-- A value's sign is read with a comparison (NUMERIC has no negative zero).
-- A scalar subquery here must return one row (SQLite takes the first of several):
-- the strategy lookups say which row, ORDER BY t.id LIMIT 1.

-- migrate:up
-- Seconds between two times, computed like the SQLite views (whole seconds, then the
-- microsecond difference / 1e6 in double precision) so that both give the same double.
CREATE FUNCTION holding_seconds(opened timestamptz, closed timestamptz)
    RETURNS double precision LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (floor(extract(epoch FROM closed)) - floor(extract(epoch FROM opened)))::double precision
        + (((extract(epoch FROM closed) - floor(extract(epoch FROM closed)))
            - (extract(epoch FROM opened) - floor(extract(epoch FROM opened)))) * 1000000)::double precision
          / 1000000.0::double precision;

-- A closed position is one round trip. Its strategy is that of the fill that opened it.
-- outcome: 1 win, -1 loss, 0 break-even (pnl exactly zero).
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

-- Trade statistics per account over all closed round trips.
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

-- Per strategy and per symbol, from the same round trips (never stored twice).
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

-- The last portfolio value of each UTC day, per account; days without a snapshot carry
-- the previous value (grp counts the days that have one, so a gap shares its group).
-- day is text 'YYYY-MM-DD', as on SQLite.
CREATE VIEW v_daily_equity AS
WITH
last_of_day AS (
    SELECT account, ("timestamp" AT TIME ZONE 'UTC')::date AS day, total_value,
           row_number() OVER (PARTITION BY account, ("timestamp" AT TIME ZONE 'UTC')::date
                              ORDER BY "timestamp" DESC) AS rank_in_day
    FROM portfolio_snapshots),
bounds AS (
    SELECT account, min(day) AS first_day, max(day) AS last_day FROM last_of_day GROUP BY account),
calendar AS (
    SELECT b.account, d::date AS day
    FROM bounds b,
         generate_series(b.first_day::timestamp, b.last_day::timestamp, interval '1 day') AS d),
marked AS (
    SELECT c.account, c.day, d.total_value,
           count(d.total_value) OVER (PARTITION BY c.account ORDER BY c.day) AS grp
    FROM calendar c
    LEFT JOIN last_of_day d ON d.account = c.account AND d.day = c.day AND d.rank_in_day = 1)
SELECT account, to_char(day, 'YYYY-MM-DD') AS day,
       max(total_value) OVER (PARTITION BY account, grp) AS total_value
FROM marked;

-- migrate:down
DROP VIEW v_daily_equity;
DROP VIEW v_symbol_performance;
DROP VIEW v_strategy_performance;
DROP VIEW v_trade_stats;
DROP VIEW v_round_trips;
DROP FUNCTION holding_seconds(timestamptz, timestamptz);
