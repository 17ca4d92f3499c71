//! One client connection: authentication state, rate limit, hub registration, dispatch of
//! requests to their handlers, and the release of everything when it is dropped.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chat_proto::{
    ClientFrame, DecodeError, ErrorCode, Event, Request, Response, RoomId, Seq, ServerFrame, UserInfo,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::reply::{Reply, refuse};
use super::{Inner, KickReason, Outbound, presence};
use crate::hub::Subscriber;
use crate::ratelimit::TokenBucket;
use crate::store::{Millis, TokenHash};

/// Who a connection is authenticated as.
pub(super) struct Auth {
    pub user: UserInfo,
    pub token_hash: TokenHash,
}

/// One client connection's state. Dropping it releases its presence and subscriptions.
pub struct Connection {
    pub(super) inner: Arc<Inner>,
    pub(super) peer: IpAddr,
    pub(super) auth: Option<Auth>,
    /// The user's device this connection is, once it said so (`register_device`,
    /// `use_device`): needed for end-to-end encryption.
    pub(super) device: Option<chat_proto::DeviceId>,
    sub: Subscriber,
    bucket: TokenBucket,
    /// Ends when this connection's latest send has published its message (or given up).
    pub(super) last_publish: Option<oneshot::Receiver<()>>,
}

impl Connection {
    pub(super) fn open(inner: Arc<Inner>, peer: IpAddr) -> (Self, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(inner.config.outbound_queue.max(1));
        let sub = inner.hub.subscriber(tx);
        let rate = inner.config.requests_per_second;
        inner.metrics.connections.fetch_add(1, Ordering::Relaxed);
        let conn = Self {
            bucket: TokenBucket::new(rate, rate.saturating_mul(2), Instant::now()),
            inner,
            peer,
            auth: None,
            device: None,
            sub,
            last_publish: None,
        };
        (conn, rx)
    }

    /// Handles one decoded request and returns its one response frame (result or error).
    pub async fn handle(&mut self, frame: ClientFrame) -> ServerFrame {
        self.inner.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let reply = self.dispatch(frame.request).await;
        response_frame(&self.inner, frame.id, reply)
    }

    /// Whether the connection is authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.auth.is_some()
    }

    /// The user this connection is authenticated as.
    pub fn user(&self) -> Option<&UserInfo> {
        self.auth.as_ref().map(|a| &a.user)
    }

    /// The peer address the connection was opened with.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// Why the core kicked this connection, if it did.
    pub fn kicked(&self) -> Option<KickReason> {
        self.sub.kicked()
    }

    /// Like [`Connection::handle`], except that a `send_message` that passes its checks is
    /// answered by a future: the message is already queued for storing (in the order of
    /// the calls), and the future stores, publishes and answers it. The caller may start
    /// more sends meanwhile, so that the messages of one connection share a group commit,
    /// and must emit the answers in request order.
    pub async fn begin(&mut self, frame: ClientFrame) -> Begun {
        let ClientFrame { id, request } = frame;
        let Request::SendMessage {
            room_id,
            client_msg_id,
            body,
        } = request
        else {
            return Begun::Answered(self.handle(ClientFrame { id, request }).await);
        };
        self.inner.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let started = match self.admit(false).await {
            Ok(()) => self.start_send(room_id, client_msg_id, body).await,
            Err(error) => Err(error),
        };
        let inner = Arc::clone(&self.inner);
        match started {
            Ok(sending) => Begun::Sending(Box::pin(async move {
                let reply = sending.await;
                response_frame(&inner, id, reply)
            })),
            Err(error) => Begun::Answered(response_frame(&inner, id, Err(error))),
        }
    }

    /// Answers a frame that did not decode. It takes a token of the rate limit like any
    /// request, so a flood of malformed frames is refused with `rate_limited` (and so ends
    /// in the transport's strikes) exactly as a flood of valid ones is.
    pub fn answer_undecodable(&mut self, undecodable: DecodeError) -> ServerFrame {
        let id = undecodable.id;
        let error = match self.take_token() {
            Ok(()) => undecodable.error.into(),
            Err(limited) => limited,
        };
        self.inner.metrics.count_error(error.code);
        ServerFrame::Error { id, error }
    }

    /// One token of the connection's rate limit, or `rate_limited` with the wait.
    fn take_token(&mut self) -> Result<(), chat_proto::ErrorBody> {
        self.bucket.take(Instant::now()).map_err(|wait| {
            refuse(ErrorCode::RateLimited, "too many requests on this connection")
                .with_retry_after_ms(super::reply::millis_ceil(wait))
        })
    }

    /// The checks every request passes first: rate limit, a session ended elsewhere,
    /// authentication.
    async fn admit(&mut self, allowed_unauthenticated: bool) -> Result<(), chat_proto::ErrorBody> {
        self.take_token()?;
        if self.kicked() == Some(KickReason::SessionEnded) && self.auth.is_some() {
            // The session was revoked elsewhere: this connection is no longer signed in.
            self.sign_out().await;
        }
        if self.auth.is_none() && !allowed_unauthenticated {
            return Err(refuse(ErrorCode::Unauthenticated, "log in first"));
        }
        Ok(())
    }

    async fn dispatch(&mut self, request: Request) -> Reply {
        self.admit(request.allowed_unauthenticated()).await?;
        match request {
            Request::Register { username, password } => self.register(username, password).await,
            Request::Login { username, password } => self.login(username, password).await,
            Request::ResumeSession { token } => self.resume_session(token).await,
            Request::Logout => self.logout().await,
            Request::CreateRoom {
                name,
                visibility,
                topic,
                encrypted,
            } => self.create_room(name, visibility, topic, encrypted).await,
            Request::ListRooms => self.list_rooms().await,
            Request::JoinRoom { room_id } => self.join_room(room_id).await,
            Request::LeaveRoom { room_id } => self.leave_room(room_id).await,
            Request::ListMembers { room_id } => self.list_members(room_id).await,
            Request::OpenDirect { username } => self.open_direct(username).await,
            Request::SendMessage {
                room_id,
                client_msg_id,
                body,
            } => self.send_message(room_id, client_msg_id, body).await,
            Request::History {
                room_id,
                before_seq,
                after_seq,
                limit,
            } => self.history(room_id, before_seq, after_seq, limit).await,
            Request::ResumeRoom { room_id, after_seq } => self.resume_room(room_id, after_seq).await,
            Request::ResumeRooms { rooms, limit } => self.resume_rooms(rooms, limit).await,
            Request::MarkRead { room_id, seq } => self.mark_read(room_id, seq).await,
            Request::Typing { room_id } => self.typing(room_id).await,
            Request::UpdateRoom { room_id, name, topic } => self.update_room(room_id, name, topic).await,
            Request::Invite { room_id, username } => self.invite(room_id, username).await,
            Request::ListInvitations => self.list_invitations().await,
            Request::DeclineInvitation { room_id } => self.decline_invitation(room_id).await,
            Request::CreateInviteLink {
                room_id,
                expires_in_secs,
                max_uses,
            } => self.create_invite_link(room_id, expires_in_secs, max_uses).await,
            Request::ListInviteLinks { room_id } => self.list_invite_links(room_id).await,
            Request::RevokeInviteLink { room_id, link_id } => self.revoke_invite_link(room_id, link_id).await,
            Request::JoinByLink { token } => self.join_by_link(token).await,
            Request::RemoveMember { room_id, user_id } => self.remove_member(room_id, user_id).await,
            Request::Ban { room_id, user_id } => self.ban(room_id, user_id).await,
            Request::Unban { room_id, user_id } => self.unban(room_id, user_id).await,
            Request::ListBans { room_id } => self.list_bans(room_id).await,
            Request::SetRole {
                room_id,
                user_id,
                role,
            } => self.set_role(room_id, user_id, role).await,
            Request::TransferOwnership { room_id, user_id } => {
                self.transfer_ownership(room_id, user_id).await
            }
            Request::ListPublicRooms { query, after, limit } => {
                self.list_public_rooms(query, after, limit).await
            }
            Request::RegisterDevice { name, signature_key } => {
                self.register_device(name, signature_key).await
            }
            Request::UseDevice { device_id } => self.use_device(device_id).await,
            Request::ListDevices { user_id } => self.list_devices(user_id).await,
            Request::RemoveDevice { device_id } => self.remove_device(device_id).await,
            Request::UploadKeyPackages {
                key_packages,
                last_resort,
            } => self.upload_key_packages(key_packages, last_resort).await,
            Request::ClaimKeyPackages { room_id, device_ids } => {
                self.claim_key_packages(room_id, device_ids).await
            }
            Request::RoomDevices { room_id } => self.room_devices(room_id).await,
            Request::CreateGroup { room_id } => self.create_group(room_id).await,
            Request::SendMls {
                room_id,
                client_msg_id,
                mls,
                welcome,
            } => self.send_mls(room_id, client_msg_id, mls, welcome).await,
            Request::ListWelcomes => self.list_welcomes().await,
            Request::AckWelcome { welcome_id } => self.ack_welcome(welcome_id).await,
            Request::Ping => Ok(Response::Pong),
            _ => Err(refuse(
                ErrorCode::UnknownType,
                "this request type is not supported",
            )),
        }
    }

    /// The authenticated user; handlers run only after the dispatch checked there is one.
    pub(super) fn me(&self) -> Result<&UserInfo, chat_proto::ErrorBody> {
        self.user()
            .ok_or_else(|| refuse(ErrorCode::Unauthenticated, "log in first"))
    }

    /// Marks the connection authenticated: subscribes it to `rooms` (each with its last
    /// `seq`, read before this call) and counts it online.
    pub(super) async fn sign_in(
        &mut self,
        user: UserInfo,
        token_hash: TokenHash,
        expires_at: Millis,
        rooms: &[(RoomId, Seq)],
    ) {
        self.inner.hub.attach(&self.sub, user.id, Some(token_hash), rooms);
        self.inner.open_sessions.opened(user.id, token_hash, expires_at);
        self.inner.metrics.authenticated.fetch_add(1, Ordering::Relaxed);
        self.auth = Some(Auth {
            user: user.clone(),
            token_hash,
        });
        presence::connection_opened(&self.inner, user).await;
    }

    /// Ends the authenticated state: unsubscribes and counts the connection offline.
    pub(super) async fn sign_out(&mut self) {
        self.device = None;
        if let Some(auth) = self.auth.take() {
            self.inner.hub.detach(&self.sub);
            self.inner.open_sessions.closed(&auth.token_hash);
            self.inner.metrics.authenticated.fetch_sub(1, Ordering::Relaxed);
            presence::connection_closed(&self.inner, auth.user).await;
        }
    }

    /// Subscribes this connection's user on this node to a room it just entered, so that
    /// the next message reaches it even before the broker's own membership event arrives.
    /// `last_seq` is the room's last item as the user entered it.
    pub(super) fn subscribe_locally(&self, user: &UserInfo, room: RoomId, last_seq: Seq) {
        self.inner.hub.subscribe_user(user.id, room, last_seq);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.inner.hub.close(&self.sub);
        self.inner.metrics.connections.fetch_sub(1, Ordering::Relaxed);
        let Some(auth) = self.auth.take() else { return };
        self.inner.open_sessions.closed(&auth.token_hash);
        self.inner.metrics.authenticated.fetch_sub(1, Ordering::Relaxed);
        // Presence lives in the broker and is async; Drop is not, so hand it to the runtime.
        let inner = self.inner.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { presence::connection_closed(&inner, auth.user).await });
            }
            Err(_) => tracing::warn!("connection dropped outside a runtime: presence not updated"),
        }
    }
}

/// What [`Connection::begin`] did with a request.
pub enum Begun {
    /// Answered already.
    Answered(ServerFrame),
    /// A message queued for storing; the future answers it.
    Sending(std::pin::Pin<Box<dyn std::future::Future<Output = ServerFrame> + Send + 'static>>),
}

/// The response frame for request `id`, counting errors by code.
fn response_frame(inner: &Inner, id: chat_proto::RequestId, reply: Reply) -> ServerFrame {
    match reply {
        Ok(result) => ServerFrame::Response { id, result },
        Err(error) => {
            inner.metrics.count_error(error.code);
            ServerFrame::Error { id: Some(id), error }
        }
    }
}

/// Serializes an event frame once, for every recipient.
pub(super) fn event_payload(event: Event) -> Outbound {
    ServerFrame::Event { event }.to_json().into()
}
