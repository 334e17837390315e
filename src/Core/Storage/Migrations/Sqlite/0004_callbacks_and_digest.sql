-- Agent callbacks: an optional signing secret per API key (used instead of AgentSentinel:Callbacks:SigningSecret),
-- one row per callback (a request's state at one version, posted to its callback_url until the receiver answers
-- 2xx), and one row per try.
ALTER TABLE api_keys ADD COLUMN callback_secret TEXT;

CREATE TABLE callback_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    approval_id     TEXT NOT NULL REFERENCES approvals (id),
    version         INTEGER NOT NULL,
    delivery_id     TEXT NOT NULL,
    event           TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    CONSTRAINT ck_callback_deliveries_state CHECK (state IN ('pending', 'delivered', 'failed'))
);
-- One delivery per (request, version): a second notifier or the sweep can never create a duplicate.
CREATE UNIQUE INDEX ux_callback_deliveries_version ON callback_deliveries (approval_id, version);
CREATE UNIQUE INDEX ux_callback_deliveries_delivery_id ON callback_deliveries (delivery_id);
-- The sweep looks for overdue pending deliveries.
CREATE INDEX ix_callback_deliveries_due ON callback_deliveries (next_attempt_at) WHERE state = 'pending';

CREATE TABLE callback_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES callback_deliveries (id),
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX ix_callback_attempts_delivery ON callback_attempts (delivery_id, attempt);

-- Requests with a callback URL by last change, for the sweep that recovers callbacks never created.
CREATE INDEX ix_approvals_callback ON approvals (updated_at) WHERE callback_url IS NOT NULL;

-- The weekly digest: one row per (week, surface, channel), claimed before posting so a retry never posts twice.
CREATE TABLE digest_posts (
    week       TEXT NOT NULL,
    surface    TEXT NOT NULL,
    channel    TEXT NOT NULL,
    state      TEXT NOT NULL,
    message_id TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    claimed_at INTEGER NOT NULL,
    posted_at  INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (week, surface, channel),
    CONSTRAINT ck_digest_posts_state CHECK (state IN ('claimed', 'posted', 'failed'))
);
