-- Delegation while away: a person (by email, lower-case) hands their decisions to another approver identity for a
-- period [starts_at, ends_at). One delegation per person; setting a new one replaces it. The Slack user ids are kept
-- when the delegation was set from Slack (verified there), so routes that name people by Slack id recognise them.
CREATE TABLE delegations (
    delegator_email    text PRIMARY KEY,
    delegate_email     text NOT NULL,
    starts_at          bigint NOT NULL,
    ends_at            bigint NOT NULL,
    delegator_slack_id text,
    delegate_slack_id  text,
    set_via            text NOT NULL,
    set_at             bigint NOT NULL
);
CREATE INDEX ix_delegations_delegate ON delegations (delegate_email);
CREATE INDEX ix_delegations_delegator_slack ON delegations (delegator_slack_id);
-- A decision made by a delegate: whom they decided for (the email of the person they stood in for).
ALTER TABLE approvals ADD COLUMN decided_on_behalf_of text;
