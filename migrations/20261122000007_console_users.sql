-- People who sign in to the console. Passwords are kept only as Argon2id
-- PHC strings (a slow hash: people choose guessable passwords).
CREATE TABLE console_users (
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    role          text        NOT NULL CHECK (role IN ('staff', 'operator', 'admin')),
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);
CREATE UNIQUE INDEX console_users_email ON console_users (email);

-- Signed-in sessions. The cookie carries 256 random bits; only their SHA-256
-- is kept (nothing to guess, so a fast hash is enough). A session ends on
-- sign-out, or when idle longer than the console's idle timeout.
CREATE TABLE console_sessions (
    token_hash   bytea       PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
