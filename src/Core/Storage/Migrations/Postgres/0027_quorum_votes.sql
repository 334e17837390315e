-- Votes on requests whose route needs a quorum (M-of-N approval). One row per person: `person` is the voter's email
-- in lower case (or "key:<id>" for an identity without one; for a delegate's vote, the represented person's), so the same person voting from two surfaces is refused
-- by the primary key even when the two votes race.
CREATE TABLE approval_votes (
    approval_id text NOT NULL REFERENCES approvals (id),
    person      text NOT NULL,
    -- 1, 2, ...: the order the votes were cast in.
    seq         integer NOT NULL,
    choice      text NOT NULL,
    name        text NOT NULL,
    email       text,
    user_id     text,
    key_id      text,
    surface     text NOT NULL,
    at          bigint NOT NULL,
    notes       text,
    -- The email of the person a delegate voted for (the vote counts as theirs: "person" is that email).
    on_behalf_of text,
    PRIMARY KEY (approval_id, person),
    CONSTRAINT ck_approval_votes_choice CHECK (choice IN ('approve', 'reject'))
);

-- The votes as surfaces show them (JSON), written with each vote in the same transaction, so a request read or
-- copied into the outbox carries its quorum's progress.
ALTER TABLE approvals ADD COLUMN votes text;
