-- Who decided, as a key: the API key of the approver identity behind every decision (a chat decision records the
-- key matched by the person's verified email), on the request and on each event of its trail.
ALTER TABLE approvals ADD COLUMN decided_by_key_id text;
ALTER TABLE approval_events ADD COLUMN actor_key_id text;

-- Chat users are matched to active approver keys by email at every click.
CREATE INDEX ix_api_keys_active_email ON api_keys (lower(email)) WHERE revoked_at IS NULL;
