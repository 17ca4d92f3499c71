-- Initial schema of the embedded store (SQLite). The PostgreSQL schema has the same tables
-- and columns in its own dialect: INTEGER -> BIGINT, BLOB -> BYTEA, TEXT client ids -> UUID.
-- Timestamps are milliseconds since the Unix epoch.

CREATE TABLE users (
    id                 INTEGER PRIMARY KEY,
    username           TEXT    NOT NULL,           -- as registered, for display
    username_canonical TEXT    NOT NULL UNIQUE,    -- lowercase: uniqueness and login
    password_hash      TEXT    NOT NULL,           -- bcrypt
    created_at         INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash BLOB    PRIMARY KEY,                -- SHA-256 of the token; never the token
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE rooms (
    id               INTEGER PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('group', 'direct')),
    name             TEXT    NOT NULL,             -- empty for direct rooms
    created_by       INTEGER NOT NULL REFERENCES users (id),
    created_at       INTEGER NOT NULL,
    last_seq         INTEGER NOT NULL DEFAULT 0,   -- seq of the newest message
    direct_user_low  INTEGER REFERENCES users (id),
    direct_user_high INTEGER REFERENCES users (id),
    UNIQUE (direct_user_low, direct_user_high),
    CHECK ((kind = 'direct') = (direct_user_low IS NOT NULL AND direct_user_high IS NOT NULL)),
    CHECK (direct_user_low IS NULL OR direct_user_low <= direct_user_high)
);

CREATE TABLE members (
    room_id       INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at     INTEGER NOT NULL,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX members_user_id ON members (user_id);

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    room_id       INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    sender_id     INTEGER NOT NULL REFERENCES users (id),
    client_msg_id TEXT    NOT NULL,                -- hyphenated UUID
    key_id        INTEGER NOT NULL,                -- which at-rest key encrypted the body
    nonce         BLOB    NOT NULL,
    ciphertext    BLOB    NOT NULL,                -- XChaCha20-Poly1305; never plaintext
    sent_at       INTEGER NOT NULL,
    UNIQUE (room_id, seq),
    UNIQUE (sender_id, client_msg_id)
);
