-- ML artifacts: a catalog of versioned files (models, datasets, any file) kept under an
-- artifacts folder, each with the size and SHA-256 it was written with, and a metric
-- history per experiment. The file is written and renamed into place before its row
-- is committed, so a row always names a complete file (see tradestore/artifacts.py).

-- migrate:up
CREATE TABLE artifacts (
    id         INTEGER PRIMARY KEY,
    -- names and versions are plain file-name-safe words: no separators, no '..'
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128 AND name GLOB '[A-Za-z0-9]*'
                   AND name NOT GLOB '*[^A-Za-z0-9._+=@-]*' AND name NOT LIKE '%..%'),
    version    TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 64 AND version GLOB '[A-Za-z0-9]*'
                   AND version NOT GLOB '*[^A-Za-z0-9._+=@-]*' AND version NOT LIKE '%..%'),
    kind       TEXT NOT NULL CHECK (kind IN ('model', 'dataset', 'file')),
    serializer TEXT NOT NULL CHECK (serializer IN ('pickle', 'bytes')),
    -- '<name>/<file>' relative to the artifacts folder: never absolute, never '..'
    relpath    TEXT NOT NULL UNIQUE CHECK (substr(relpath, 1, length(name) + 1) = name || '/'
                   AND relpath NOT GLOB '*/*/*' AND relpath NOT LIKE '%..%'
                   AND relpath NOT GLOB '*[^A-Za-z0-9._+=@/-]*' AND length(relpath) <= 255),
    size       INTEGER NOT NULL CHECK (size >= 0),
    sha256     TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    metadata   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata) AND json_type(metadata) = 'object'),
    created_at TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at TEXT NOT NULL CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    UNIQUE (name, version)
) STRICT;

-- Training metrics: one row per (experiment, metric, point). A float metric is REAL;
-- NaN cannot be stored (it becomes NULL) and the range check refuses infinities.
CREATE TABLE metrics (
    id            INTEGER PRIMARY KEY,
    experiment_id TEXT NOT NULL CHECK (length(experiment_id) BETWEEN 1 AND 200),
    metric_name   TEXT NOT NULL CHECK (length(metric_name) BETWEEN 1 AND 200),
    value         REAL NOT NULL CHECK (typeof(value) = 'real'
                      AND value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308),
    step          INTEGER CHECK (step IS NULL OR step >= 0),
    timestamp     TEXT NOT NULL CHECK (timestamp GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    created_at    TEXT NOT NULL CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;
CREATE INDEX metrics_history ON metrics (experiment_id, metric_name, timestamp, step);
CREATE INDEX metrics_best ON metrics (metric_name, value, timestamp);

-- migrate:down
DROP TABLE metrics;
DROP TABLE artifacts;
