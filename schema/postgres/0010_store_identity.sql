-- The store's identity (issue 14 point 4): a random UUID (version 4) in store_meta under
-- the key 'store_id'. PostgreSQL version of schema/0010_store_identity.sql
-- (gen_random_uuid() is built in since PostgreSQL 13).
-- The down block keeps it: the identity is the store's, not this schema version's, and a
-- store that came back up with a new identity would disown its own backups.

-- migrate:up
INSERT INTO store_meta (key, value, updated_at)
VALUES ('store_id', gen_random_uuid()::text, now())
ON CONFLICT (key) DO NOTHING;

-- migrate:down
SELECT 1;  -- the identity stays (see above)
