-- The store's identity (issue 14 point 4): a random UUID (version 4) in store_meta under
-- the key 'store_id', so that backups can tell their own store from another one with the
-- same file name. A new store gets it in its creation transaction; an existing store gets
-- it here, when migrated (TradeRepo also adds one to a store opened for writing without).
-- The down block keeps it: the identity is the store's, not this schema version's, and a
-- store that came back up with a new identity would disown its own backups.

-- migrate:up
INSERT OR IGNORE INTO store_meta (key, value, updated_at) VALUES (
    'store_id',
    lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' ||
    substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) ||
    substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))),
    strftime('%Y-%m-%dT%H:%M:', 'now') || strftime('%f', 'now') || '000Z');

-- migrate:down
SELECT 1;  -- the identity stays (see above)
