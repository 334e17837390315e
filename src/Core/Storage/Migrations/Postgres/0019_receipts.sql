-- Signed approval receipts. A request's receipt (a compact JWS) is issued once it is final and never changes.
ALTER TABLE approvals ADD COLUMN receipt text;

-- The keys receipts are signed with. Every key ever used stays here so that its public half stays listed in
-- /.well-known/jwks.json and old receipts keep verifying. A generated key keeps its private half (PKCS#8 PEM) so that
-- every instance signs with it; a key from configuration is recorded by its public half only. At most one generated
-- key is current (slot = 'current'; NULLs never collide).
CREATE TABLE receipt_keys (
    kid         text PRIMARY KEY,
    public_x    text NOT NULL,
    public_y    text NOT NULL,
    private_pem text,
    source      text NOT NULL,
    slot        text UNIQUE,
    created_at  bigint NOT NULL,
    retired_at  bigint,
    CONSTRAINT ck_receipt_keys_slot CHECK (slot IS NULL OR slot = 'current'),
    CONSTRAINT ck_receipt_keys_source CHECK (source IN ('generated', 'configured'))
);
