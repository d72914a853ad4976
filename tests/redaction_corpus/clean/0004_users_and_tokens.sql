-- 0004_users_and_tokens.sql
-- Users sign in with email + password (argon2id hash); API clients use tokens.
BEGIN;

CREATE TABLE users (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           CITEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    password_set_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    mfa_secret_enc  BYTEA,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_prefix CHAR(8) NOT NULL,
    token_hash   BYTEA NOT NULL,
    scopes       TEXT[] NOT NULL DEFAULT '{}',
    last_used_at TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ,
    CONSTRAINT api_tokens_prefix_format CHECK (token_prefix ~ '^[a-z0-9]{8}$')
);

CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);
CREATE UNIQUE INDEX api_tokens_prefix_idx ON api_tokens (token_prefix);

COMMENT ON COLUMN users.password_hash IS 'argon2id, encoded with parameters';
COMMENT ON COLUMN api_tokens.token_hash IS 'sha256 of the secret part; the secret is shown once';

INSERT INTO users (email, password_hash)
VALUES ('admin@example.com', '$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG');

UPDATE api_tokens SET expires_at = created_at + interval '90 days' WHERE expires_at IS NULL;

COMMIT;
