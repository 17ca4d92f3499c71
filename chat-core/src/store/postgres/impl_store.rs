//! [`Store`] for [`PostgresStore`]: each method takes a pooled connection and runs its
//! statement or transaction under the operation time limit.

use async_trait::async_trait;
use chat_proto::{DeviceId, InviteLinkId, ResumePoint, Role, RoomId, Seq, UserId, UserInfo, Username};

use super::{PostgresStore, accounts, e2ee, map_err, messages, room_control, rooms};
use crate::store::{
    BanRecord, ClaimedKeyPackageRecord, DeviceRecord, DirectoryCursor, InvitationRecord, InviteLinkRecord,
    MessagePage, Millis, MlsOutcome, NewGroupRoom, NewInviteLink, NewMessage, NewMlsItem, NewSession,
    PageFrom, QueuedInsert, RoomAccess, RoomChange, RoomListing, RoomRecord, SessionRecord, Store,
    StoreError, StoredMessage, TokenHash, UserRecord, WelcomeRecord,
};

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.timed(async {
            let c = self.conn().await?;
            c.simple_query("SELECT 1").await.map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn create_user(
        &self,
        username: &Username,
        password_hash: &str,
        now: Millis,
    ) -> Result<UserRecord, StoreError> {
        self.timed(async { accounts::create_user(&*self.conn().await?, username, password_hash, now).await })
            .await
    }

    async fn find_user(&self, canonical_username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.timed(async { accounts::find_user(&*self.conn().await?, canonical_username).await })
            .await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<UserInfo>, StoreError> {
        self.timed(async { accounts::get_user(&*self.conn().await?, id).await })
            .await
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        self.timed(async { accounts::create_session(&*self.conn().await?, session).await })
            .await
    }

    async fn resume_session(
        &self,
        token_hash: &TokenHash,
        now: Millis,
        new_expires_at: Millis,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.timed(async {
            accounts::resume_session(&*self.conn().await?, token_hash, now, new_expires_at).await
        })
        .await
    }

    async fn delete_session(&self, token_hash: &TokenHash) -> Result<bool, StoreError> {
        self.timed(async { accounts::delete_session(&*self.conn().await?, token_hash).await })
            .await
    }

    async fn delete_expired_sessions(&self, now: Millis) -> Result<u64, StoreError> {
        self.timed(async { accounts::delete_expired_sessions(&*self.conn().await?, now).await })
            .await
    }

    async fn create_group_room(
        &self,
        room: &NewGroupRoom,
    ) -> Result<(RoomRecord, StoredMessage), StoreError> {
        self.timed(async { rooms::create_group_room(&mut *self.conn().await?, room).await })
            .await
    }

    async fn open_direct(
        &self,
        a: UserInfo,
        b: UserInfo,
        now: Millis,
    ) -> Result<(RoomRecord, Vec<StoredMessage>), StoreError> {
        self.timed(async { rooms::open_direct(&mut *self.conn().await?, &a, &b, now).await })
            .await
    }

    async fn register_device(
        &self,
        user: UserId,
        name: &str,
        signature_key: &[u8],
        now: Millis,
    ) -> Result<DeviceRecord, StoreError> {
        self.timed(async {
            e2ee::register_device(&mut *self.conn().await?, user, name, signature_key, now).await
        })
        .await
    }

    async fn get_device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        self.timed(async { e2ee::get_device(&*self.conn().await?, id).await })
            .await
    }

    async fn list_devices(&self, user: UserId) -> Result<Vec<DeviceRecord>, StoreError> {
        self.timed(async { e2ee::list_devices(&*self.conn().await?, user).await })
            .await
    }

    async fn remove_device(&self, user: UserId, device: DeviceId) -> Result<bool, StoreError> {
        self.timed(async { e2ee::remove_device(&*self.conn().await?, user, device).await })
            .await
    }

    async fn touch_device(&self, device: DeviceId, now: Millis) -> Result<(), StoreError> {
        self.timed(async { e2ee::touch_device(&*self.conn().await?, device, now).await })
            .await
    }

    async fn add_key_packages(
        &self,
        device: DeviceId,
        one_time: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
    ) -> Result<u32, StoreError> {
        self.timed(async {
            e2ee::add_key_packages(
                &mut *self.conn().await?,
                device,
                &one_time,
                last_resort.as_deref(),
            )
            .await
        })
        .await
    }

    async fn claim_key_packages(
        &self,
        devices: &[DeviceId],
    ) -> Result<Vec<ClaimedKeyPackageRecord>, StoreError> {
        self.timed(async { e2ee::claim_key_packages(&mut *self.conn().await?, devices).await })
            .await
    }

    async fn room_devices(&self, room: RoomId) -> Result<Vec<DeviceRecord>, StoreError> {
        self.timed(async { e2ee::room_devices(&*self.conn().await?, room).await })
            .await
    }

    async fn create_group(&self, room: RoomId) -> Result<bool, StoreError> {
        self.timed(async { e2ee::create_group(&*self.conn().await?, room).await })
            .await
    }

    async fn append_mls(&self, item: &NewMlsItem) -> Result<MlsOutcome, StoreError> {
        self.timed(async { e2ee::append_mls(&mut *self.conn().await?, item).await })
            .await
    }

    async fn list_welcomes(&self, device: DeviceId) -> Result<Vec<WelcomeRecord>, StoreError> {
        self.timed(async { e2ee::list_welcomes(&*self.conn().await?, device).await })
            .await
    }

    async fn ack_welcome(&self, device: DeviceId, welcome: u64) -> Result<bool, StoreError> {
        self.timed(async { e2ee::ack_welcome(&*self.conn().await?, device, welcome).await })
            .await
    }

    async fn room_access(&self, room_id: RoomId, user_id: UserId) -> Result<RoomAccess, StoreError> {
        self.timed(async { rooms::room_access(&*self.conn().await?, room_id, user_id).await })
            .await
    }

    async fn change_room(&self, change: &RoomChange) -> Result<Option<Vec<StoredMessage>>, StoreError> {
        self.timed(async { room_control::change_room(&mut *self.conn().await?, change).await })
            .await
    }

    async fn successor(&self, room_id: RoomId, leaving: UserId) -> Result<Option<UserId>, StoreError> {
        self.timed(async { rooms::successor(&*self.conn().await?, room_id, leaving).await })
            .await
    }

    async fn list_members(&self, room_id: RoomId) -> Result<Vec<(UserInfo, Role)>, StoreError> {
        self.timed(async { rooms::list_members(&*self.conn().await?, room_id).await })
            .await
    }

    async fn rooms_with_last_seq(&self, user_id: UserId) -> Result<Vec<(RoomId, Seq)>, StoreError> {
        self.timed(async { rooms::rooms_with_last_seq(&*self.conn().await?, user_id).await })
            .await
    }

    async fn last_seqs(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, Seq)>, StoreError> {
        self.timed(async { rooms::last_seqs(&*self.conn().await?, rooms).await })
            .await
    }

    async fn co_member_ids(&self, user_id: UserId) -> Result<Vec<UserId>, StoreError> {
        self.timed(async { rooms::co_member_ids(&*self.conn().await?, user_id).await })
            .await
    }

    async fn list_rooms(&self, user_id: UserId) -> Result<Vec<RoomListing>, StoreError> {
        self.timed(async { rooms::list_rooms(&*self.conn().await?, user_id).await })
            .await
    }

    async fn mark_read(&self, room_id: RoomId, user_id: UserId, seq: Seq) -> Result<Option<Seq>, StoreError> {
        self.timed(async { rooms::mark_read(&*self.conn().await?, room_id, user_id, seq).await })
            .await
    }

    async fn list_invitations(&self, user_id: UserId) -> Result<Vec<InvitationRecord>, StoreError> {
        self.timed(async { room_control::list_invitations(&*self.conn().await?, user_id).await })
            .await
    }

    async fn create_invite_link(&self, link: &NewInviteLink) -> Result<InviteLinkRecord, StoreError> {
        self.timed(async { room_control::create_invite_link(&*self.conn().await?, link).await })
            .await
    }

    async fn list_invite_links(&self, room_id: RoomId) -> Result<Vec<InviteLinkRecord>, StoreError> {
        self.timed(async { room_control::list_invite_links(&*self.conn().await?, room_id).await })
            .await
    }

    async fn find_invite_link(&self, token_hash: &TokenHash) -> Result<Option<InviteLinkRecord>, StoreError> {
        self.timed(async { room_control::find_invite_link(&*self.conn().await?, token_hash).await })
            .await
    }

    async fn revoke_invite_link(&self, room_id: RoomId, link: InviteLinkId) -> Result<bool, StoreError> {
        self.timed(async { room_control::revoke_invite_link(&*self.conn().await?, room_id, link).await })
            .await
    }

    async fn list_bans(&self, room_id: RoomId) -> Result<Vec<BanRecord>, StoreError> {
        self.timed(async { room_control::list_bans(&*self.conn().await?, room_id).await })
            .await
    }

    async fn public_rooms(
        &self,
        query: Option<&str>,
        after: Option<DirectoryCursor>,
        limit: u32,
    ) -> Result<Vec<RoomRecord>, StoreError> {
        self.timed(async { room_control::public_rooms(&*self.conn().await?, query, after, limit).await })
            .await
    }

    fn queue_message(&self, message: NewMessage) -> QueuedInsert {
        let outcome = self.batches.queue(message);
        let limit = self.options.operation_timeout;
        Box::pin(async move {
            tokio::time::timeout(limit, outcome)
                .await
                .map_err(|_| StoreError::Unavailable("the database did not answer in time".into()))?
        })
    }

    async fn resume_pages(
        &self,
        user: UserId,
        points: &[ResumePoint],
        per_room: u32,
        total: usize,
    ) -> Result<Vec<Option<MessagePage>>, StoreError> {
        self.timed(async {
            messages::resume_pages(&*self.conn().await?, user, points, per_room, total).await
        })
        .await
    }

    async fn messages_page(
        &self,
        room_id: RoomId,
        from: PageFrom,
        limit: u32,
    ) -> Result<MessagePage, StoreError> {
        self.timed(async { messages::messages_page(&*self.conn().await?, room_id, from, limit).await })
            .await
    }
}
