-- The embedded store's user tables (the SQLite twin of ../0001_accounts.sql). Times are
-- microseconds since the Unix epoch.

-- Account ids come from this counter, taken in a transaction of its own before the
-- account's: a rolled-back registration never gives its id to the next one (whose
-- engine account may exist already). AUTOINCREMENT would roll back with the row.
CREATE TABLE account_ids (next INTEGER NOT NULL);
INSERT INTO account_ids (next) VALUES (1);

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    INTEGER NOT NULL
);

CREATE TABLE refresh_tokens (
    token_sha256 BLOB    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES accounts (id),
    family       TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);

CREATE TABLE api_keys (
    key_id        TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES accounts (id),
    secret_sha256 BLOB    NOT NULL,
    label         TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX api_keys_user ON api_keys (user_id);
