-- People who signed in to the console through the company identity provider (OpenID Connect), with the console
-- scopes their provider roles gave them at their last sign-in. While the record is recent, the person is an approver
-- identity: their Slack or Teams account with the same verified email decides as them.
CREATE TABLE console_people (
    id                 TEXT PRIMARY KEY,
    issuer             TEXT NOT NULL,
    subject            TEXT NOT NULL,
    email              TEXT NOT NULL,
    name               TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    first_signed_in_at INTEGER NOT NULL,
    last_signed_in_at  INTEGER NOT NULL
);
CREATE INDEX ix_console_people_email ON console_people (lower(email));
-- When the person last proved who they are at the provider (the ID token's auth_time), for step-up decisions.
ALTER TABLE console_sessions ADD COLUMN auth_time INTEGER;
