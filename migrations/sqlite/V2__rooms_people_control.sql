-- Rooms that people control: visibility, roles, invitations, invite links, bans, and
-- notices of changes in each room's timeline. Rooms made before this version keep their
-- behaviour: group rooms become public, owned by their creator (or, if the creator left,
-- by their longest-standing member).

ALTER TABLE rooms ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public'
    CHECK (visibility IN ('private', 'public'));
ALTER TABLE rooms ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE rooms ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;
-- How many timeline items count toward unread (messages, not notices).
ALTER TABLE rooms ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
-- Bumped by every change of membership, roles, invitations, bans or settings: a change
-- decided on one version applies only while the room is still at it.
ALTER TABLE rooms ADD COLUMN state_version INTEGER NOT NULL DEFAULT 0;

UPDATE rooms SET visibility = 'private' WHERE kind = 'direct';
UPDATE rooms SET
    member_count = (SELECT COUNT(*) FROM members m WHERE m.room_id = rooms.id),
    message_count = last_seq;

ALTER TABLE members ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('owner', 'admin', 'member'));
-- message_count of the room at the read marker: unread = rooms.message_count - read_count.
ALTER TABLE members ADD COLUMN read_count INTEGER NOT NULL DEFAULT 0;
UPDATE members SET read_count = last_read_seq;

UPDATE members SET role = 'owner'
WHERE EXISTS (SELECT 1 FROM rooms r
              WHERE r.id = members.room_id AND r.kind = 'group' AND r.created_by = members.user_id);
UPDATE members SET role = 'owner'
WHERE (room_id, user_id) IN (
    SELECT r.id, (SELECT m.user_id FROM members m WHERE m.room_id = r.id
                  ORDER BY m.joined_at, m.user_id LIMIT 1)
    FROM rooms r
    WHERE r.kind = 'group'
      AND NOT EXISTS (SELECT 1 FROM members o WHERE o.room_id = r.id AND o.role = 'owner'));

-- Timeline items: 'text' (a message, sealed at rest) or 'notice' (a change to the room,
-- as JSON in `notice`; its key_id, nonce and ciphertext are empty).
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
ALTER TABLE messages ADD COLUMN notice TEXT;
-- rooms.message_count right after this item: lets a read marker find its count.
ALTER TABLE messages ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET counted = seq;

CREATE TABLE invites (
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invited_by INTEGER NOT NULL REFERENCES users (id),
    invited_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX invites_user_id ON invites (user_id);

CREATE TABLE bans (
    room_id   INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    banned_by INTEGER NOT NULL REFERENCES users (id),
    banned_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE invite_links (
    id         INTEGER PRIMARY KEY,
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    token_hash BLOB    NOT NULL UNIQUE,             -- SHA-256 of the token; never the token
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    max_uses   INTEGER,
    uses       INTEGER NOT NULL DEFAULT 0,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX invite_links_room_id ON invite_links (room_id);

CREATE INDEX rooms_directory ON rooms (member_count DESC, id)
    WHERE kind = 'group' AND visibility = 'public';
