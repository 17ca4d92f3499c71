//! [`Store`] for [`SqliteStore`]: each method sends one closure to the writer or a reader.

use async_trait::async_trait;
use chat_proto::{DeviceId, InviteLinkId, ResumePoint, Role, RoomId, Seq, UserId, UserInfo, Username};

use super::{SqliteStore, accounts, e2ee, map_err, messages, room_control, rooms};
use crate::store::{
    BanRecord, ClaimedKeyPackageRecord, DeviceRecord, DirectoryCursor, InvitationRecord, InviteLinkRecord,
    MessagePage, Millis, MlsOutcome, NewGroupRoom, NewInviteLink, NewMessage, NewMlsItem, NewSession,
    PageFrom, QueuedInsert, RoomAccess, RoomChange, RoomListing, RoomRecord, SessionRecord, Store,
    StoreError, StoredMessage, TokenHash, UserRecord, WelcomeRecord,
};

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        // Through the writer, taking the write lock: a database that cannot take a message
        // is not healthy even if it still answers reads. Inside a batch the writer holds the
        // lock already.
        self.write(|c| {
            if c.is_autocommit() {
                c.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").map_err(map_err)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn create_user(
        &self,
        username: &Username,
        password_hash: &str,
        now: Millis,
    ) -> Result<UserRecord, StoreError> {
        let (username, hash) = (username.clone(), password_hash.to_owned());
        self.write(move |c| accounts::create_user(c, &username, &hash, now))
            .await
    }

    async fn find_user(&self, canonical_username: &str) -> Result<Option<UserRecord>, StoreError> {
        let name = canonical_username.to_owned();
        self.read(move |c| accounts::find_user(c, &name)).await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<UserInfo>, StoreError> {
        self.read(move |c| accounts::get_user(c, id)).await
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let session = session.clone();
        self.write(move |c| accounts::create_session(c, &session)).await
    }

    async fn resume_session(
        &self,
        token_hash: &TokenHash,
        now: Millis,
        new_expires_at: Millis,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let hash = *token_hash;
        self.write(move |c| accounts::resume_session(c, &hash, now, new_expires_at))
            .await
    }

    async fn delete_session(&self, token_hash: &TokenHash) -> Result<bool, StoreError> {
        let hash = *token_hash;
        self.write(move |c| accounts::delete_session(c, &hash)).await
    }

    async fn delete_expired_sessions(&self, now: Millis) -> Result<u64, StoreError> {
        self.write(move |c| accounts::delete_expired_sessions(c, now))
            .await
    }

    async fn create_group_room(
        &self,
        room: &NewGroupRoom,
    ) -> Result<(RoomRecord, StoredMessage), StoreError> {
        let room = room.clone();
        self.write(move |c| rooms::create_group_room(c, &room)).await
    }

    async fn open_direct(
        &self,
        a: UserInfo,
        b: UserInfo,
        now: Millis,
    ) -> Result<(RoomRecord, Vec<StoredMessage>), StoreError> {
        self.write(move |c| rooms::open_direct(c, &a, &b, now)).await
    }

    async fn register_device(
        &self,
        user: UserId,
        name: &str,
        signature_key: &[u8],
        now: Millis,
    ) -> Result<DeviceRecord, StoreError> {
        let (name, key) = (name.to_owned(), signature_key.to_vec());
        self.write(move |c| e2ee::register_device(c, user, &name, &key, now))
            .await
    }

    async fn get_device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        self.read(move |c| e2ee::get_device(c, id)).await
    }

    async fn list_devices(&self, user: UserId) -> Result<Vec<DeviceRecord>, StoreError> {
        self.read(move |c| e2ee::list_devices(c, user)).await
    }

    async fn remove_device(&self, user: UserId, device: DeviceId) -> Result<bool, StoreError> {
        self.write(move |c| e2ee::remove_device(c, user, device)).await
    }

    async fn touch_device(&self, device: DeviceId, now: Millis) -> Result<(), StoreError> {
        self.write(move |c| e2ee::touch_device(c, device, now)).await
    }

    async fn add_key_packages(
        &self,
        device: DeviceId,
        one_time: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
    ) -> Result<u32, StoreError> {
        self.write(move |c| e2ee::add_key_packages(c, device, &one_time, last_resort.as_deref()))
            .await
    }

    async fn claim_key_packages(
        &self,
        devices: &[DeviceId],
    ) -> Result<Vec<ClaimedKeyPackageRecord>, StoreError> {
        let devices = devices.to_vec();
        self.write(move |c| e2ee::claim_key_packages(c, &devices)).await
    }

    async fn room_devices(&self, room: RoomId) -> Result<Vec<DeviceRecord>, StoreError> {
        self.read(move |c| e2ee::room_devices(c, room)).await
    }

    async fn create_group(&self, room: RoomId) -> Result<bool, StoreError> {
        self.write(move |c| e2ee::create_group(c, room)).await
    }

    async fn append_mls(&self, item: &NewMlsItem) -> Result<MlsOutcome, StoreError> {
        let item = item.clone();
        self.write(move |c| e2ee::append_mls(c, &item)).await
    }

    async fn list_welcomes(&self, device: DeviceId) -> Result<Vec<WelcomeRecord>, StoreError> {
        self.read(move |c| e2ee::list_welcomes(c, device)).await
    }

    async fn ack_welcome(&self, device: DeviceId, welcome: u64) -> Result<bool, StoreError> {
        self.write(move |c| e2ee::ack_welcome(c, device, welcome)).await
    }

    async fn room_access(&self, room_id: RoomId, user_id: UserId) -> Result<RoomAccess, StoreError> {
        self.read(move |c| rooms::room_access(c, room_id, user_id)).await
    }

    async fn change_room(&self, change: &RoomChange) -> Result<Option<Vec<StoredMessage>>, StoreError> {
        let change = change.clone();
        self.write(move |c| room_control::change_room(c, &change)).await
    }

    async fn successor(&self, room_id: RoomId, leaving: UserId) -> Result<Option<UserId>, StoreError> {
        self.read(move |c| rooms::successor(c, room_id, leaving)).await
    }

    async fn list_members(&self, room_id: RoomId) -> Result<Vec<(UserInfo, Role)>, StoreError> {
        self.read(move |c| rooms::list_members(c, room_id)).await
    }

    async fn rooms_with_last_seq(&self, user_id: UserId) -> Result<Vec<(RoomId, Seq)>, StoreError> {
        self.read(move |c| rooms::rooms_with_last_seq(c, user_id)).await
    }

    async fn last_seqs(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, Seq)>, StoreError> {
        let rooms = rooms.to_vec();
        self.read(move |c| rooms::last_seqs(c, &rooms)).await
    }

    async fn co_member_ids(&self, user_id: UserId) -> Result<Vec<UserId>, StoreError> {
        self.read(move |c| rooms::co_member_ids(c, user_id)).await
    }

    async fn list_rooms(&self, user_id: UserId) -> Result<Vec<RoomListing>, StoreError> {
        self.read(move |c| rooms::list_rooms(c, user_id)).await
    }

    async fn mark_read(&self, room_id: RoomId, user_id: UserId, seq: Seq) -> Result<Option<Seq>, StoreError> {
        self.write(move |c| rooms::mark_read(c, room_id, user_id, seq))
            .await
    }

    async fn list_invitations(&self, user_id: UserId) -> Result<Vec<InvitationRecord>, StoreError> {
        self.read(move |c| room_control::list_invitations(c, user_id))
            .await
    }

    async fn create_invite_link(&self, link: &NewInviteLink) -> Result<InviteLinkRecord, StoreError> {
        let link = link.clone();
        self.write(move |c| room_control::create_invite_link(c, &link))
            .await
    }

    async fn list_invite_links(&self, room_id: RoomId) -> Result<Vec<InviteLinkRecord>, StoreError> {
        self.read(move |c| room_control::list_invite_links(c, room_id))
            .await
    }

    async fn find_invite_link(&self, token_hash: &TokenHash) -> Result<Option<InviteLinkRecord>, StoreError> {
        let hash = *token_hash;
        self.read(move |c| room_control::find_invite_link(c, &hash)).await
    }

    async fn revoke_invite_link(&self, room_id: RoomId, link: InviteLinkId) -> Result<bool, StoreError> {
        self.write(move |c| room_control::revoke_invite_link(c, room_id, link))
            .await
    }

    async fn list_bans(&self, room_id: RoomId) -> Result<Vec<BanRecord>, StoreError> {
        self.read(move |c| room_control::list_bans(c, room_id)).await
    }

    async fn public_rooms(
        &self,
        query: Option<&str>,
        after: Option<DirectoryCursor>,
        limit: u32,
    ) -> Result<Vec<RoomRecord>, StoreError> {
        let query = query.map(str::to_owned);
        self.read(move |c| room_control::public_rooms(c, query.as_deref(), after, limit))
            .await
    }

    fn queue_message(&self, message: NewMessage) -> QueuedInsert {
        let outcome = self.queue_write(move |c| messages::insert_message(c, &message));
        Box::pin(outcome)
    }

    async fn resume_pages(
        &self,
        user: UserId,
        points: &[ResumePoint],
        per_room: u32,
        total: usize,
    ) -> Result<Vec<Option<MessagePage>>, StoreError> {
        let points = points.to_vec();
        self.read(move |c| messages::resume_pages(c, user, &points, per_room, total))
            .await
    }

    async fn messages_page(
        &self,
        room_id: RoomId,
        from: PageFrom,
        limit: u32,
    ) -> Result<MessagePage, StoreError> {
        self.read(move |c| messages::messages_page(c, room_id, from, limit))
            .await
    }
}
