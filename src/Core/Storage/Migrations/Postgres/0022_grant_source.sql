-- The grant given with an approval, found from that approval (chat messages show it with a Revoke button).
CREATE INDEX ix_grants_source ON grants (source_approval_id);
