-- Schema discipline (issue 18 point 6): every money, time and order-status column carries
-- its canonical CHECK, and an event's level can only be its severity's number.
-- PostgreSQL version of schema/0013_schema_discipline.sql. The time columns that file
-- closes (positions.created_at and updated_at, trades.created_at) are utc_time here since
-- 0002, so only two checks are new: the order statuses of order_status_history and an
-- event's level as its severity's number (10 debug, 20 info, 30 warning, 40 error,
-- 50 critical). PostgreSQL adds a CHECK in place (ALTER TABLE ... ADD CONSTRAINT checks
-- every row); no table is made again.

-- migrate:up
-- A row that a new CHECK would refuse stops the upgrade before anything changes, naming
-- table, column, row id and value, as on SQLite (the store stays at version 12). Plain
-- SQL has no RAISE: a failed cast to integer is the error that words a text from data.
SELECT CAST('schema 13 refuses order_status_history.' || col || ' of row ' || id
    || ' = "' || value || '": not an order status (PENDING, OPEN, PARTIALLY_FILLED, '
    || 'FILLED, CANCELLED, REJECTED, EXPIRED); correct the row and migrate again' AS integer)
FROM (SELECT 'from_status' AS col, id, from_status AS value FROM order_status_history
      WHERE from_status IS NOT NULL
      UNION ALL SELECT 'to_status', id, to_status FROM order_status_history) AS statuses
WHERE value NOT IN ('PENDING', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED')
LIMIT 1;

SELECT CAST('schema 13 refuses events.level of row ' || id || ' = ' || level
    || ': not the number of its severity "' || severity || '" (debug 10, info 20, warning 30, '
    || 'error 40, critical 50); correct the row and migrate again' AS integer)
FROM events
WHERE level IS DISTINCT FROM CASE severity WHEN 'debug' THEN 10 WHEN 'info' THEN 20
    WHEN 'warning' THEN 30 WHEN 'error' THEN 40 WHEN 'critical' THEN 50 END
LIMIT 1;

ALTER TABLE order_status_history
    ADD CONSTRAINT order_status_history_from_status_check
        CHECK (from_status IN ('PENDING', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED')),
    ADD CONSTRAINT order_status_history_to_status_check
        CHECK (to_status IN ('PENDING', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED'));

ALTER TABLE events ADD CONSTRAINT events_level_is_severity
    CHECK (level = CASE severity WHEN 'debug' THEN 10 WHEN 'info' THEN 20 WHEN 'warning' THEN 30
                                 WHEN 'error' THEN 40 WHEN 'critical' THEN 50 END);

-- migrate:down
-- 0012's shape: the checks go, every row of 13 fits 12.
ALTER TABLE events DROP CONSTRAINT events_level_is_severity;
ALTER TABLE order_status_history
    DROP CONSTRAINT order_status_history_to_status_check,
    DROP CONSTRAINT order_status_history_from_status_check;
