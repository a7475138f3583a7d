-- Accounts (users), their refresh tokens and their API keys. An account's id is also its engine
-- account (`UserId`).
CREATE TABLE accounts (
    id            BIGSERIAL   PRIMARY KEY,
    username      TEXT        NOT NULL UNIQUE,
    password_hash TEXT        NOT NULL,                 -- argon2id, PHC string
    role          TEXT        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Refresh tokens rotate: each use issues a new one in the same family and marks the
-- old one used. A used token presented again means it was stolen: the whole family is
-- revoked. Only the SHA-256 of a token is stored.
CREATE TABLE refresh_tokens (
    token_sha256 BYTEA       PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES accounts (id),
    family       TEXT        NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);

-- API key pairs: the key id (16 printable characters, so it fits the binary gateway's
-- Login) and the SHA-256 of the 32-character secret, which is shown once.
-- `changed_at` lets the gateway pick up new and revoked keys by polling.
CREATE TABLE api_keys (
    key_id        TEXT        PRIMARY KEY,
    user_id       BIGINT      NOT NULL REFERENCES accounts (id),
    secret_sha256 BYTEA       NOT NULL,
    label         TEXT        NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at    TIMESTAMPTZ,
    changed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX api_keys_user ON api_keys (user_id);
CREATE INDEX api_keys_changed ON api_keys (changed_at);
