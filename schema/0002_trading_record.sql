-- The trading record: orders, their status history, fills (trades) and positions.
-- Money and quantities are TEXT in plain notation (see ARCHITECTURE.md); the CHECKs
-- stop a hand edit from storing a float, an exponent or garbage.

-- migrate:up
CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    account         TEXT NOT NULL CHECK (length(account) BETWEEN 1 AND 200),
    symbol          TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 200),
    side            TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    order_type      TEXT NOT NULL CHECK (order_type IN ('MARKET', 'LIMIT', 'STOP', 'STOP_LIMIT')),
    quantity        TEXT NOT NULL CHECK (typeof(quantity) = 'text' AND quantity GLOB '*[0-9]*' AND quantity NOT GLOB '*[^0-9.]*' AND quantity NOT GLOB '*.*.*' AND quantity GLOB '*[0-9]' AND length(quantity) <= 65),
    price           TEXT CHECK (price IS NULL OR (typeof(price) = 'text' AND price GLOB '*[0-9]*' AND price NOT GLOB '*[^0-9.]*' AND price NOT GLOB '*.*.*' AND price GLOB '*[0-9]' AND length(price) <= 65)),
    stop_price      TEXT CHECK (stop_price IS NULL OR (typeof(stop_price) = 'text' AND stop_price GLOB '*[0-9]*' AND stop_price NOT GLOB '*[^0-9.]*' AND stop_price NOT GLOB '*.*.*' AND stop_price GLOB '*[0-9]' AND length(stop_price) <= 65)),
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED')),
    filled_quantity TEXT NOT NULL DEFAULT '0' CHECK (typeof(filled_quantity) = 'text' AND filled_quantity GLOB '*[0-9]*' AND filled_quantity NOT GLOB '*[^0-9.]*' AND filled_quantity NOT GLOB '*.*.*' AND filled_quantity GLOB '*[0-9]' AND length(filled_quantity) <= 65),
    avg_fill_price  TEXT CHECK (avg_fill_price IS NULL OR (typeof(avg_fill_price) = 'text' AND avg_fill_price GLOB '*[0-9]*' AND avg_fill_price NOT GLOB '*[^0-9.]*' AND avg_fill_price NOT GLOB '*.*.*' AND avg_fill_price GLOB '*[0-9]' AND length(avg_fill_price) <= 65)),
    exchange        TEXT NOT NULL DEFAULT '',
    external_id     TEXT,
    strategy        TEXT,
    metadata        TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
    created_at      TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at      TEXT NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE UNIQUE INDEX orders_by_external_id ON orders (exchange, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX orders_by_status ON orders (status, symbol);
CREATE INDEX orders_by_created ON orders (created_at);

CREATE TABLE order_status_history (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT,
    changed_at  TEXT NOT NULL CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE INDEX order_status_history_by_order ON order_status_history (order_id, id);

-- One row per round trip: opened by a fill, closed when its quantity returns to zero.
-- entry_value = price x quantity of what is still held; entry_fees = the held share of
-- the opening fees; realized_pnl and fees accumulate over the whole round trip.
CREATE TABLE positions (
    id            INTEGER PRIMARY KEY,
    account       TEXT NOT NULL,
    symbol        TEXT NOT NULL,
    side          TEXT NOT NULL CHECK (side IN ('LONG', 'SHORT')),
    quantity      TEXT NOT NULL CHECK (typeof(quantity) = 'text' AND quantity GLOB '*[0-9]*' AND quantity NOT GLOB '*[^0-9.]*' AND quantity NOT GLOB '*.*.*' AND quantity GLOB '*[0-9]' AND length(quantity) <= 65),
    entry_value   TEXT NOT NULL CHECK (typeof(entry_value) = 'text' AND entry_value GLOB '*[0-9]*' AND entry_value NOT GLOB '*[^0-9.-]*' AND entry_value NOT GLOB '?*-*' AND entry_value NOT GLOB '*.*.*' AND entry_value GLOB '*[0-9]' AND length(entry_value) <= 65),
    entry_fees    TEXT NOT NULL CHECK (typeof(entry_fees) = 'text' AND entry_fees GLOB '*[0-9]*' AND entry_fees NOT GLOB '*[^0-9.-]*' AND entry_fees NOT GLOB '?*-*' AND entry_fees NOT GLOB '*.*.*' AND entry_fees GLOB '*[0-9]' AND length(entry_fees) <= 65),
    max_quantity  TEXT NOT NULL CHECK (typeof(max_quantity) = 'text' AND max_quantity GLOB '*[0-9]*' AND max_quantity NOT GLOB '*[^0-9.]*' AND max_quantity NOT GLOB '*.*.*' AND max_quantity GLOB '*[0-9]' AND length(max_quantity) <= 65),
    realized_pnl  TEXT NOT NULL CHECK (typeof(realized_pnl) = 'text' AND realized_pnl GLOB '*[0-9]*' AND realized_pnl NOT GLOB '*[^0-9.-]*' AND realized_pnl NOT GLOB '?*-*' AND realized_pnl NOT GLOB '*.*.*' AND realized_pnl GLOB '*[0-9]' AND length(realized_pnl) <= 65),
    fees          TEXT NOT NULL CHECK (typeof(fees) = 'text' AND fees GLOB '*[0-9]*' AND fees NOT GLOB '*[^0-9.-]*' AND fees NOT GLOB '?*-*' AND fees NOT GLOB '*.*.*' AND fees GLOB '*[0-9]' AND length(fees) <= 65),
    trade_count   INTEGER NOT NULL CHECK (trade_count >= 1),
    opened_at     TEXT NOT NULL CHECK (opened_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    closed_at     TEXT CHECK (closed_at IS NULL OR closed_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX positions_open ON positions (account, symbol) WHERE closed_at IS NULL;
CREATE INDEX positions_by_closed ON positions (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX positions_by_symbol ON positions (symbol, opened_at);

-- Fills. pnl is the realised pnl of the fill (NULL for a fill that only opens or adds);
-- position_id is the round trip it belongs to (for a fill that crosses zero: the one it
-- closes; opened_position_id then names the one it opens).
CREATE TABLE trades (
    id                 INTEGER PRIMARY KEY,
    account            TEXT NOT NULL CHECK (length(account) BETWEEN 1 AND 200),
    symbol             TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 200),
    side               TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity           TEXT NOT NULL CHECK (typeof(quantity) = 'text' AND quantity GLOB '*[0-9]*' AND quantity NOT GLOB '*[^0-9.]*' AND quantity NOT GLOB '*.*.*' AND quantity GLOB '*[0-9]' AND length(quantity) <= 65),
    price              TEXT NOT NULL CHECK (typeof(price) = 'text' AND price GLOB '*[0-9]*' AND price NOT GLOB '*[^0-9.]*' AND price NOT GLOB '*.*.*' AND price GLOB '*[0-9]' AND length(price) <= 65),
    fees               TEXT NOT NULL DEFAULT '0' CHECK (typeof(fees) = 'text' AND fees GLOB '*[0-9]*' AND fees NOT GLOB '*[^0-9.]*' AND fees NOT GLOB '*.*.*' AND fees GLOB '*[0-9]' AND length(fees) <= 65),
    fee_currency       TEXT,
    exchange           TEXT NOT NULL DEFAULT '',
    external_id        TEXT,
    order_id           INTEGER REFERENCES orders (id),
    strategy           TEXT,
    timestamp          TEXT NOT NULL CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    pnl                TEXT CHECK (pnl IS NULL OR (typeof(pnl) = 'text' AND pnl GLOB '*[0-9]*' AND pnl NOT GLOB '*[^0-9.-]*' AND pnl NOT GLOB '?*-*' AND pnl NOT GLOB '*.*.*' AND pnl GLOB '*[0-9]' AND length(pnl) <= 65)),
    pnl_given          INTEGER NOT NULL DEFAULT 0 CHECK (pnl_given IN (0, 1)),
    position_id        INTEGER REFERENCES positions (id),
    opened_position_id INTEGER REFERENCES positions (id),
    metadata           TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
    created_at         TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX trades_by_external_id ON trades (exchange, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX trades_by_symbol_time ON trades (symbol, timestamp);
CREATE INDEX trades_by_time ON trades (timestamp);
CREATE INDEX trades_by_strategy_time ON trades (strategy, timestamp);
CREATE INDEX trades_by_account_time ON trades (account, timestamp);
CREATE INDEX trades_by_order ON trades (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX trades_by_position ON trades (position_id);
CREATE INDEX trades_by_opened_position ON trades (opened_position_id) WHERE opened_position_id IS NOT NULL;

-- migrate:down
DROP TABLE trades;
DROP TABLE positions;
DROP TABLE order_status_history;
DROP TABLE orders;
