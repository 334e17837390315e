-- Agent callbacks: an optional signing secret per API key (used instead of AgentSentinel:Callbacks:SigningSecret),
-- one row per callback (a request's state at one version, posted to its callback_url until the receiver answers
-- 2xx), and one row per try.
ALTER TABLE api_keys ADD COLUMN callback_secret text;

CREATE TABLE callback_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    approval_id     text NOT NULL REFERENCES approvals (id),
    version         integer NOT NULL,
    delivery_id     text NOT NULL,
    event           text NOT NULL,
    url             text NOT NULL,
    body            text NOT NULL,
    state           text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    last_status     integer,
    last_error      text,
    next_attempt_at bigint,
    created_at      bigint NOT NULL,
    updated_at      bigint NOT NULL,
    delivered_at    bigint,
    CONSTRAINT ck_callback_deliveries_state CHECK (state IN ('pending', 'delivered', 'failed'))
);
-- One delivery per (request, version): a second notifier or the sweep can never create a duplicate.
CREATE UNIQUE INDEX ux_callback_deliveries_version ON callback_deliveries (approval_id, version);
CREATE UNIQUE INDEX ux_callback_deliveries_delivery_id ON callback_deliveries (delivery_id);
-- The sweep looks for overdue pending deliveries.
CREATE INDEX ix_callback_deliveries_due ON callback_deliveries (next_attempt_at) WHERE state = 'pending';

CREATE TABLE callback_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES callback_deliveries (id),
    attempt     integer NOT NULL,
    at          bigint NOT NULL,
    status      integer,
    error       text,
    duration_ms integer NOT NULL
);
CREATE INDEX ix_callback_attempts_delivery ON callback_attempts (delivery_id, attempt);

-- Requests with a callback URL by last change, for the sweep that recovers callbacks never created.
CREATE INDEX ix_approvals_callback ON approvals (updated_at) WHERE callback_url IS NOT NULL;

-- The weekly digest: one row per (week, surface, channel), claimed before posting so a retry never posts twice.
CREATE TABLE digest_posts (
    week       text NOT NULL,
    surface    text NOT NULL,
    channel    text NOT NULL,
    state      text NOT NULL,
    message_id text,
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    claimed_at bigint NOT NULL,
    posted_at  bigint,
    updated_at bigint NOT NULL,
    PRIMARY KEY (week, surface, channel),
    CONSTRAINT ck_digest_posts_state CHECK (state IN ('claimed', 'posted', 'failed'))
);
