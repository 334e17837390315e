-- Votes on requests whose route needs a quorum (M-of-N approval). One row per person: `person` is the voter's email
-- in lower case (or "key:<id>" for an identity without one; for a delegate's vote, the represented person's), so the same person voting from two surfaces is refused
-- by the primary key even when the two votes race.
CREATE TABLE approval_votes (
    approval_id TEXT NOT NULL REFERENCES approvals (id),
    person      TEXT NOT NULL,
    -- 1, 2, ...: the order the votes were cast in.
    seq         INTEGER NOT NULL,
    choice      TEXT NOT NULL,
    name        TEXT NOT NULL,
    email       TEXT,
    user_id     TEXT,
    key_id      TEXT,
    surface     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    notes       TEXT,
    -- The email of the person a delegate voted for (the vote counts as theirs: "person" is that email).
    on_behalf_of TEXT,
    PRIMARY KEY (approval_id, person),
    CONSTRAINT ck_approval_votes_choice CHECK (choice IN ('approve', 'reject'))
);

-- The votes as surfaces show them (JSON), written with each vote in the same transaction, so a request read or
-- copied into the outbox carries its quorum's progress.
ALTER TABLE approvals ADD COLUMN votes TEXT;
