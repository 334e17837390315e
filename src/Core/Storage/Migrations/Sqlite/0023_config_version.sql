-- One counter for everything the servers cache (API keys, run-time settings): bumped in the transaction of every change
-- to them, read once per request, so a cached copy is used only while it is still the stored one.
CREATE TABLE config_version (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);
