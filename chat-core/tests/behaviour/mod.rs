//! The behavioural suite of the core, written once against any [`Store`].
//!
//! Each case takes a [`Fixture`] (one fresh database that can be opened again) and drives a
//! real [`ChatService`] through [`Connection`]s, exactly as the server does. An adapter's
//! test file runs the whole suite with one line: `behaviour_suite!(fixture expression)`,
//! where the expression yields `Option<impl Fixture>` (`None` skips, for services that are
//! not reachable).

#![allow(dead_code)]

pub mod accounts;
pub mod delivery;
pub mod distributed;
pub mod e2ee;
pub mod messages;
pub mod resume;
pub mod room_control;
pub mod rooms;
pub mod upgrade;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chat_core::broker::Broker;
use chat_core::broker::memory::MemoryBroker;
use chat_core::keyring::KeyRing;
use chat_core::store::Store;
use chat_core::{ChatService, Connection, CoreConfig, Outbound};
use chat_proto::{
    ClientFrame, ClientMsgId, ErrorBody, ErrorCode, Event, Message, MessageBody, Notice, Password, Request,
    Response, Room, RoomId, RoomName, ServerFrame, SessionInfo, UserInfo, Username, Visibility,
    decode_server_frame,
};
use tokio::sync::mpsc;

/// One fresh database for one test case.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// Opens the fixture's database (again: a second call sees what the first stored).
    async fn open_store(&self) -> Arc<dyn Store>;

    /// The broker of a new node on `store` (default: the in-process one; a fixture may put
    /// its nodes on a shared Redis).
    async fn open_broker(&self, _store: Arc<dyn Store>) -> Arc<dyn Broker> {
        Arc::new(MemoryBroker::default())
    }
}

/// The at-rest key of the suite (fixed, so that a reopened node reads what the first wrote).
pub const TEST_KEYS: &str = "1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// How long a case waits for an event that should come.
pub const EVENT_WAIT: Duration = Duration::from_secs(5);

/// Core configuration for tests: cheap bcrypt.
pub fn config() -> CoreConfig {
    CoreConfig {
        bcrypt_cost: 4,
        ..CoreConfig::default()
    }
}

/// A node on the fixture's store and broker.
pub async fn node(fixture: &dyn Fixture, config: CoreConfig) -> ChatService {
    let store = fixture.open_store().await;
    ChatService::new(
        store.clone(),
        fixture.open_broker(store).await,
        KeyRing::parse(TEST_KEYS).unwrap(),
        config,
    )
    .await
    .unwrap()
}

pub const PASSWORD: &str = "correct horse battery";

pub fn name(s: &str) -> Username {
    Username::parse(s).unwrap()
}

pub fn password(s: &str) -> Password {
    Password::parse(s).unwrap()
}

pub fn room_name(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

pub fn body(s: &str) -> MessageBody {
    MessageBody::parse(s).unwrap()
}

/// A connection as a test client sees it.
pub struct Client {
    pub conn: Connection,
    pub rx: mpsc::Receiver<Outbound>,
    pub session: Option<SessionInfo>,
}

impl Client {
    /// A new, unauthenticated connection from 127.0.0.1.
    pub fn connect(service: &ChatService) -> Self {
        Self::connect_from(service, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// A new, unauthenticated connection from `peer`.
    pub fn connect_from(service: &ChatService, peer: IpAddr) -> Self {
        let (conn, rx) = service.open_connection(peer);
        Self {
            conn,
            rx,
            session: None,
        }
    }

    /// A connection with a freshly registered user.
    pub async fn register(service: &ChatService, username: &str) -> Self {
        let mut client = Self::connect(service);
        match client
            .ok(Request::Register {
                username: name(username),
                password: password(PASSWORD),
            })
            .await
        {
            Response::Session(s) => client.session = Some(s),
            other => panic!("register gave {other:?}"),
        }
        client
    }

    /// A connection logged in as an existing user.
    pub async fn login(service: &ChatService, username: &str) -> Self {
        let mut client = Self::connect(service);
        match client
            .ok(Request::Login {
                username: name(username),
                password: password(PASSWORD),
            })
            .await
        {
            Response::Session(s) => client.session = Some(s),
            other => panic!("login gave {other:?}"),
        }
        client
    }

    pub fn user_id(&self) -> chat_proto::UserId {
        self.session.as_ref().unwrap().user.id
    }

    /// Sends a request; the response frame must carry the request's id.
    pub async fn request(&mut self, request: Request) -> Result<Response, ErrorBody> {
        let frame = ClientFrame::new(request);
        let id = frame.id;
        match self.conn.handle(frame).await {
            ServerFrame::Response { id: got, result } => {
                assert_eq!(got, id, "response id");
                Ok(result)
            }
            ServerFrame::Error { id: got, error } => {
                assert_eq!(got, Some(id), "error id");
                Err(error)
            }
            ServerFrame::Event { event } => panic!("an event as a response: {event:?}"),
        }
    }

    pub async fn ok(&mut self, request: Request) -> Response {
        let what = request.type_name();
        self.request(request)
            .await
            .unwrap_or_else(|e| panic!("{what} failed: {e}"))
    }

    pub async fn err(&mut self, request: Request) -> ErrorBody {
        let what = request.type_name();
        match self.request(request).await {
            Err(e) => e,
            Ok(r) => panic!("{what} succeeded with {r:?}"),
        }
    }

    pub async fn code(&mut self, request: Request) -> ErrorCode {
        self.err(request).await.code
    }

    /// The next event, waiting up to [`EVENT_WAIT`].
    pub async fn event(&mut self) -> Event {
        let frame = tokio::time::timeout(EVENT_WAIT, self.rx.recv())
            .await
            .expect("no event in time")
            .expect("the outbound queue ended");
        match decode_server_frame(&frame).unwrap() {
            ServerFrame::Event { event } => event,
            other => panic!("not an event: {other:?}"),
        }
    }

    /// Every event queued once in-flight deliveries have landed (a broker between
    /// processes delivers asynchronously).
    pub async fn drain(&mut self) -> Vec<Event> {
        settle().await;
        let mut events = Vec::new();
        while let Ok(frame) = self.rx.try_recv() {
            match decode_server_frame(&frame).unwrap() {
                ServerFrame::Event { event } => events.push(event),
                other => panic!("not an event: {other:?}"),
            }
        }
        events
    }

    /// The next text message event, skipping notices, presence and typing.
    pub async fn next_message(&mut self) -> Message {
        loop {
            if let Event::Message { message } = self.event().await
                && message.text().is_some()
            {
                return message;
            }
        }
    }

    /// The next notice (a change to a room), skipping messages, presence and typing.
    pub async fn next_notice(&mut self) -> (Message, Notice) {
        loop {
            if let Event::Message { message } = self.event().await
                && let Some(notice) = message.notice().cloned()
            {
                return (message, notice);
            }
        }
    }

    /// The user this connection is logged in as.
    pub fn me(&self) -> UserInfo {
        self.session.as_ref().unwrap().user.clone()
    }

    /// Creates a public room (anyone may join it by id).
    pub async fn create_room(&mut self, name: &str) -> Room {
        self.create_room_as(name, Visibility::Public, None).await
    }

    /// Creates a private room (only invited people may join) that is not end-to-end
    /// encrypted, so that the case can send plain text in it.
    pub async fn create_private_room(&mut self, name: &str) -> Room {
        self.create_room_as(name, Visibility::Private, Some(false)).await
    }

    /// Creates a private, end-to-end encrypted room (the default for private rooms).
    pub async fn create_encrypted_room(&mut self, name: &str) -> Room {
        self.create_room_as(name, Visibility::Private, None).await
    }

    pub async fn create_room_as(
        &mut self,
        name: &str,
        visibility: Visibility,
        encrypted: Option<bool>,
    ) -> Room {
        match self
            .ok(Request::CreateRoom {
                name: room_name(name),
                visibility,
                topic: None,
                encrypted,
            })
            .await
        {
            Response::Room { room } => room,
            other => panic!("create_room gave {other:?}"),
        }
    }

    pub async fn join(&mut self, room_id: RoomId) -> Room {
        match self.ok(Request::JoinRoom { room_id }).await {
            Response::Room { room } => room,
            other => panic!("join_room gave {other:?}"),
        }
    }

    pub async fn send(&mut self, room_id: RoomId, text: &str) -> Message {
        self.send_with_id(room_id, ClientMsgId::random(), text).await
    }

    pub async fn send_with_id(&mut self, room_id: RoomId, client_msg_id: ClientMsgId, text: &str) -> Message {
        match self
            .ok(Request::SendMessage {
                room_id,
                client_msg_id,
                body: body(text),
            })
            .await
        {
            Response::Message { message } => message,
            other => panic!("send_message gave {other:?}"),
        }
    }

    /// `history`: (seqs, has_more).
    pub async fn history(
        &mut self,
        room_id: RoomId,
        before_seq: Option<u64>,
        after_seq: Option<u64>,
        limit: u32,
    ) -> (Vec<u64>, bool) {
        match self
            .ok(Request::History {
                room_id,
                before_seq,
                after_seq,
                limit,
            })
            .await
        {
            Response::Messages {
                messages, has_more, ..
            } => (messages.iter().map(|m| m.seq).collect(), has_more),
            other => panic!("history gave {other:?}"),
        }
    }
}

/// Lets in-flight work land: spawned tasks (presence updates after a drop) and deliveries
/// through a broker that crosses processes.
pub async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Generates one `#[tokio::test]` per case of the suite for a fixture expression of type
/// `Option<impl Fixture>`, evaluated inside each test.
#[macro_export]
macro_rules! behaviour_suite {
    ($fixture:expr) => {
        $crate::behaviour_suite!(@cases $fixture;
            accounts::register_login_logout_resume,
            accounts::expired_tokens_are_refused,
            accounts::sessions_in_use_are_renewed_and_end_when_deleted,
            accounts::usernames_are_unique_ignoring_case,
            accounts::wrong_password_and_unknown_user_look_the_same,
            accounts::failed_logins_are_throttled_per_username_and_address,
            accounts::authenticated_connections_cannot_authenticate_again,
            accounts::requests_need_authentication,
            accounts::requests_are_rate_limited,
            rooms::rooms_can_be_created_joined_and_left,
            rooms::only_members_read_or_post,
            rooms::direct_chats_are_one_per_pair_and_closed_to_others,
            rooms::room_list_has_last_message_and_unread_counts,
            room_control::a_private_room_answers_outsiders_as_a_missing_one,
            room_control::invitations_let_people_in_or_are_declined,
            room_control::roles_decide_who_may_do_what,
            room_control::a_removed_member_stops_receiving_at_once,
            room_control::a_ban_outlives_invitations_and_links_until_lifted,
            room_control::invite_links_expire_are_revoked_and_run_out_under_concurrent_joins,
            room_control::many_people_joining_a_room_at_once_all_get_in,
            room_control::the_directory_lists_public_rooms_by_size_and_name,
            room_control::resume_replays_membership_and_messages_in_order,
            e2ee::an_encrypted_room_orders_and_delivers_only_ciphertext,
            e2ee::one_commit_per_epoch_and_stale_messages_are_refused,
            e2ee::the_delivery_service_refuses_what_is_not_its_to_take,
            e2ee::key_packages_run_low_and_devices_are_announced,
            messages::sequence_numbers_are_gap_free_under_concurrent_senders,
            messages::sending_is_idempotent_by_client_message_id,
            messages::pipelined_sends_are_delivered_in_send_order,
            messages::history_pages_both_ways_within_bounds,
            messages::resume_returns_everything_after_with_a_complete_flag,
            messages::history_survives_reopening_the_store,
            resume::resume_rooms_answers_every_room_in_one_request,
            resume::resume_rooms_refuses_bad_requests,
            resume::resume_rooms_carries_mls_items_unchanged,
            delivery::every_connection_of_every_member_gets_a_message_once,
            delivery::a_node_that_hears_nothing_from_the_others_delivers_what_they_stored,
            delivery::presence_follows_the_last_connection,
            delivery::presence_ends_online_after_rapid_reconnects,
            delivery::typing_reaches_others_and_is_not_stored,
            delivery::a_slow_consumer_is_kicked_while_others_keep_receiving,
            delivery::metrics_and_health_report_the_node,
        );
    };
    (@cases $fixture:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = $fixture else { return };
                behaviour::$module::$case(&fixture).await;
            }
        )*
    };
}
