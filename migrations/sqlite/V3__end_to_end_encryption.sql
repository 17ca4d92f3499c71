-- End-to-end encryption (MLS): devices with their public signature keys, key packages,
-- Welcome messages waiting for a device, and the state the delivery service keeps per
-- encrypted room (whether it is encrypted, the current epoch of its group). Rooms made
-- before this version are not encrypted.

ALTER TABLE rooms ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
-- The epoch of the room's MLS group; NULL until a device creates the group.
ALTER TABLE rooms ADD COLUMN mls_epoch INTEGER;

-- Timeline items may now be 'mls' (an MLS application message) or 'mls_commit' (an MLS
-- commit), their bytes in `ciphertext` as the client made them; `device_id` is the sender's
-- device.
ALTER TABLE messages ADD COLUMN device_id INTEGER;

CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    signature_key BLOB    NOT NULL UNIQUE,       -- public Ed25519 key
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL
);
CREATE INDEX devices_user_id ON devices (user_id);

CREATE TABLE key_packages (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    data        BLOB    NOT NULL,
    last_resort INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX key_packages_device_id ON key_packages (device_id, last_resort);

CREATE TABLE welcomes (
    id         INTEGER PRIMARY KEY,
    device_id  INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,                 -- the commit that added the device
    data       BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX welcomes_device_id ON welcomes (device_id);
