-- Reminders and escalation: how far each request has got, and when its next follow-up is due.
ALTER TABLE approvals ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE approvals ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE approvals ADD COLUMN follow_up_at INTEGER;
CREATE INDEX ix_approvals_follow_up ON approvals (follow_up_at) WHERE status IN ('pending', 'info_requested') AND follow_up_at IS NOT NULL;
