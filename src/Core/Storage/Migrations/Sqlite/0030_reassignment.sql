-- Reassignment: where an approver last handed the open request (JSON: a person's email, a Slack channel or a Teams
-- channel, who handed it and when), so every message of the request can say where it went.
ALTER TABLE approvals ADD COLUMN reassigned_to TEXT;
