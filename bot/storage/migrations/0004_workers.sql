-- wirewatch schema, version 4: worker heartbeats. A worker whose heartbeat is stale has died;
-- its claims on the outbox are taken over at once instead of waiting for their lease.
CREATE TABLE workers (
    name TEXT PRIMARY KEY,              -- the worker identity (delivery.worker, default host:role)
    instance TEXT NOT NULL,             -- unique per process start
    role TEXT NOT NULL,                 -- all | ingest | relay
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started DOUBLE PRECISION NOT NULL,  -- unix seconds
    beat DOUBLE PRECISION NOT NULL      -- unix seconds of the last heartbeat
);
CREATE INDEX outbox_owner ON outbox(lease_owner) WHERE state = 'sending';
