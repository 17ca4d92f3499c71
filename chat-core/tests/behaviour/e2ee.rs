//! End-to-end encrypted rooms (S20): the server as MLS's delivery service. Devices are real
//! MLS clients (`chat-e2ee`), so every byte the server orders and stores is what a client
//! would send.

use chat_e2ee::{DeviceToAdd, Machine, MemoryStore, Processed, RoomDevice};
use chat_proto::{
    Base64Bytes, ClientMsgId, DeviceName, ErrorCode, Event, Message, OutgoingWelcome, Request, Response,
    RoomId,
};

use super::{Client, Fixture, body, config, name, node};

/// A user's connection with its device's MLS machine.
pub struct Device {
    pub client: Client,
    pub machine: Machine<MemoryStore>,
}

fn bytes(b: Vec<u8>) -> Base64Bytes {
    Base64Bytes::new(b).unwrap()
}

impl Device {
    /// Registers `username`, its device, and uploads key packages.
    pub async fn register(svc: &chat_core::ChatService, username: &str) -> Device {
        let mut client = Client::register(svc, username).await;
        let mut machine = Machine::create(client.user_id(), MemoryStore::new()).unwrap();
        let device = match client
            .ok(Request::RegisterDevice {
                name: DeviceName::parse("test device").unwrap(),
                signature_key: bytes(machine.signature_public_key().to_vec()),
            })
            .await
        {
            Response::Device { device } => device,
            other => panic!("{other:?}"),
        };
        machine.set_device_id(device.id).unwrap();
        let packages = machine.key_packages(3).unwrap();
        match client
            .ok(Request::UploadKeyPackages {
                key_packages: packages.into_iter().map(bytes).collect(),
                last_resort: Some(bytes(machine.last_resort_key_package())),
            })
            .await
        {
            Response::KeyPackageCount { remaining } => assert_eq!(remaining, 3),
            other => panic!("{other:?}"),
        }
        Device { client, machine }
    }

    /// The room's devices as the server lists them.
    pub async fn room_devices(&mut self, room: RoomId) -> Vec<RoomDevice> {
        match self.client.ok(Request::RoomDevices { room_id: room }).await {
            Response::RoomDevices { devices, .. } => devices
                .into_iter()
                .map(|d| RoomDevice {
                    user: d.user.id,
                    device: d.id,
                    signature_key: d.signature_key.into_bytes(),
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    /// Plans, claims key packages, commits and sends the commit with its Welcome; the
    /// server's answer (the stored commit, or the refusal).
    pub async fn reconcile(&mut self, room: RoomId) -> Result<Message, chat_proto::ErrorBody> {
        let devices = self.room_devices(room).await;
        let plan = self.machine.plan(room, &devices).unwrap();
        let claimed = match self
            .client
            .ok(Request::ClaimKeyPackages {
                room_id: room,
                device_ids: plan.add.iter().map(|d| d.device).collect(),
            })
            .await
        {
            Response::KeyPackages { key_packages, .. } => key_packages,
            other => panic!("{other:?}"),
        };
        let adds = plan
            .add
            .iter()
            .map(|device| DeviceToAdd {
                device: device.clone(),
                key_package: claimed
                    .iter()
                    .find(|k| k.device_id == device.device)
                    .expect("a key package for each device to add")
                    .key_package
                    .as_bytes()
                    .to_vec(),
            })
            .collect();
        let pending = self.machine.commit(room, adds, &plan.remove).unwrap();
        let welcome = pending.welcome.clone().map(|w| OutgoingWelcome {
            mls: bytes(w),
            device_ids: pending.welcomed.clone(),
        });
        let answer = self
            .client
            .request(Request::SendMls {
                room_id: room,
                client_msg_id: ClientMsgId::random(),
                mls: bytes(pending.commit.clone()),
                welcome,
            })
            .await;
        match answer {
            Ok(Response::Message { message }) => Ok(message),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        }
    }

    /// Encrypts and sends a text; the stored item.
    pub async fn say(&mut self, room: RoomId, text: &str) -> Result<Message, chat_proto::ErrorBody> {
        let mls = self.machine.encrypt(room, text).unwrap();
        self.send_raw(room, mls).await
    }

    pub async fn send_raw(&mut self, room: RoomId, mls: Vec<u8>) -> Result<Message, chat_proto::ErrorBody> {
        match self
            .client
            .request(Request::SendMls {
                room_id: room,
                client_msg_id: ClientMsgId::random(),
                mls: bytes(mls),
                welcome: None,
            })
            .await
        {
            Ok(Response::Message { message }) => Ok(message),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        }
    }

    /// Processes one timeline item through the machine.
    pub fn process(&mut self, item: &Message) -> Processed {
        let mls = item.mls().expect("an MLS item");
        self.machine
            .process(item.room_id, item.seq, mls.as_bytes())
            .unwrap()
    }

    /// Waits for this device's Welcome and joins with it.
    pub async fn join_from_welcome(&mut self, room: RoomId) {
        let me = self.machine.device_id().unwrap();
        let welcome = loop {
            if let Event::Welcome { welcome } = self.client.event().await
                && welcome.device_id == me
            {
                break welcome;
            }
        };
        assert_eq!(welcome.room_id, room);
        self.machine
            .join_from_welcome(room, welcome.seq, welcome.mls.as_bytes())
            .unwrap();
        assert_eq!(
            self.client
                .ok(Request::AckWelcome {
                    welcome_id: welcome.id
                })
                .await,
            Response::Ok
        );
        match self.client.ok(Request::ListWelcomes).await {
            Response::Welcomes { welcomes } => assert!(welcomes.is_empty(), "acknowledged"),
            other => panic!("{other:?}"),
        }
    }

    /// The next MLS item of the room delivered live.
    pub async fn next_mls(&mut self, room: RoomId) -> Message {
        loop {
            if let Event::Message { message } = self.client.event().await
                && message.room_id == room
                && message.mls().is_some()
            {
                return message;
            }
        }
    }
}

pub async fn an_encrypted_room_orders_and_delivers_only_ciphertext(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Device::register(&svc, "alice").await;
    let mut bob = Device::register(&svc, "bob").await;
    let room = alice.client.create_encrypted_room("secrets").await;
    assert!(room.encrypted, "a private room is encrypted by default");
    alice
        .client
        .ok(Request::Invite {
            room_id: room.id,
            username: name("bob"),
        })
        .await;
    bob.client.join(room.id).await;

    // One device creates the group; the server grants that once.
    assert_eq!(
        alice.client.ok(Request::CreateGroup { room_id: room.id }).await,
        Response::Ok
    );
    assert_eq!(
        bob.client.code(Request::CreateGroup { room_id: room.id }).await,
        ErrorCode::GroupExists
    );
    alice.machine.create_group(room.id).unwrap();
    let commit = alice.reconcile(room.id).await.unwrap();
    assert_eq!(commit.device_id, alice.machine.device_id());
    alice.process(&commit);
    bob.join_from_welcome(room.id).await;

    let canary = "canary 7f3e2c: meet at the north gate";
    let sent = alice.say(room.id, canary).await.unwrap();
    assert!(matches!(sent.content, chat_proto::Content::Mls { .. }));
    let got = bob.next_mls(room.id).await;
    assert_eq!(got.seq, sent.seq);
    match bob.process(&got) {
        Processed::Message(m) => assert_eq!(m.text, canary),
        other => panic!("{other:?}"),
    }
    // What the server keeps and hands out is ciphertext.
    match bob
        .client
        .ok(Request::History {
            room_id: room.id,
            before_seq: None,
            after_seq: None,
            limit: 50,
        })
        .await
    {
        Response::Messages { messages, .. } => {
            let json = serde_json::to_string(&messages).unwrap();
            assert!(!json.contains("canary"), "no plaintext in the room's history");
            assert!(messages.iter().any(|m| m.seq == sent.seq && m.mls().is_some()));
        }
        other => panic!("{other:?}"),
    }
    // Plain text is refused; the room keeps its items.
    let plain = Request::SendMessage {
        room_id: room.id,
        client_msg_id: ClientMsgId::random(),
        body: body("in the clear"),
    };
    assert_eq!(bob.client.code(plain).await, ErrorCode::RoomEncrypted);
}

pub async fn one_commit_per_epoch_and_stale_messages_are_refused(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Device::register(&svc, "alice").await;
    let mut bob = Device::register(&svc, "bob").await;
    let mut carol = Device::register(&svc, "carol").await;
    let room = alice.client.create_encrypted_room("epochs").await;
    for who in ["bob", "carol"] {
        alice
            .client
            .ok(Request::Invite {
                room_id: room.id,
                username: name(who),
            })
            .await;
    }
    bob.client.join(room.id).await;
    alice.client.ok(Request::CreateGroup { room_id: room.id }).await;
    alice.machine.create_group(room.id).unwrap();
    let first = alice.reconcile(room.id).await.unwrap();
    alice.process(&first);
    bob.join_from_welcome(room.id).await;

    // A message made at this epoch, held back while the group moves on.
    let held = alice.machine.encrypt(room.id, "made before carol came").unwrap();
    carol.client.join(room.id).await;
    // Both members try to add carol at the same moment: the server takes one.
    let from_bob = bob.reconcile(room.id).await;
    let from_alice = alice.reconcile(room.id).await;
    let (winner, refused) = match (from_bob, from_alice) {
        (Ok(w), Err(r)) | (Err(r), Ok(w)) => (w, r),
        other => panic!("exactly one commit per epoch: {other:?}"),
    };
    assert_eq!(refused.code, ErrorCode::StaleEpoch);
    // Every device merges the winner; the loser's pending commit gives way.
    alice.process(&winner);
    bob.process(&winner);
    carol.join_from_welcome(room.id).await;
    assert_eq!(alice.machine.epoch(room.id), bob.machine.epoch(room.id));
    assert_eq!(alice.machine.epoch(room.id), carol.machine.epoch(room.id));

    // The message made at the old epoch is refused; remade, it goes through.
    let stale = alice.send_raw(room.id, held).await.unwrap_err();
    assert_eq!(stale.code, ErrorCode::StaleEpoch);
    let fresh = alice.say(room.id, "made after carol came").await.unwrap();
    match carol.process(&fresh) {
        Processed::Message(m) => assert_eq!(m.text, "made after carol came"),
        other => panic!("{other:?}"),
    }
}

pub async fn the_delivery_service_refuses_what_is_not_its_to_take(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Device::register(&svc, "alice").await;
    let mut mallory = Device::register(&svc, "mallory").await;
    let room = alice.client.create_encrypted_room("guarded").await;
    let public = alice.client.create_room("open").await;
    assert!(!public.encrypted, "a public room is not encrypted");
    assert_eq!(
        alice
            .client
            .code(Request::CreateRoom {
                name: super::room_name("bad"),
                visibility: chat_proto::Visibility::Public,
                topic: None,
                encrypted: Some(true),
            })
            .await,
        ErrorCode::InvalidRequest,
        "a public room cannot be encrypted"
    );
    // No group yet: MLS messages wait for create_group.
    alice.machine.create_group(room.id).unwrap();
    let early = alice.machine.encrypt(room.id, "too early").unwrap();
    assert_eq!(
        alice.send_raw(room.id, early.clone()).await.unwrap_err().code,
        ErrorCode::StaleEpoch
    );
    alice.client.ok(Request::CreateGroup { room_id: room.id }).await;
    // Not MLS, another room's group, an unencrypted room: refused, nothing stored.
    assert_eq!(
        alice
            .send_raw(room.id, b"plain bytes".to_vec())
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidMls
    );
    assert_eq!(
        alice.send_raw(public.id, early.clone()).await.unwrap_err().code,
        ErrorCode::InvalidMls,
        "the group id is not the room's"
    );
    // An outsider is answered as for a missing room, whatever it sends.
    assert_eq!(
        mallory.send_raw(room.id, early).await.unwrap_err().code,
        ErrorCode::NotFound
    );
    for request in [
        Request::RoomDevices { room_id: room.id },
        Request::ClaimKeyPackages {
            room_id: room.id,
            device_ids: vec![alice.machine.device_id().unwrap()],
        },
        Request::CreateGroup { room_id: room.id },
    ] {
        assert_eq!(mallory.client.code(request).await, ErrorCode::NotFound);
    }
    // A member cannot claim a stranger's key packages, nor list a stranger's devices.
    assert_eq!(
        alice
            .client
            .code(Request::ClaimKeyPackages {
                room_id: room.id,
                device_ids: vec![mallory.machine.device_id().unwrap()],
            })
            .await,
        ErrorCode::NotFound
    );
    assert_eq!(
        alice
            .client
            .code(Request::ListDevices {
                user_id: mallory.client.user_id()
            })
            .await,
        ErrorCode::NotFound
    );
    // Key packages that are not key packages are refused.
    assert_eq!(
        alice
            .client
            .code(Request::UploadKeyPackages {
                key_packages: vec![bytes(b"not a key package".to_vec())],
                last_resort: None,
            })
            .await,
        ErrorCode::InvalidMls
    );
    // A connection without a device cannot act as one.
    let mut plain = Client::login(&svc, "alice").await;
    assert_eq!(plain.code(Request::ListWelcomes).await, ErrorCode::NoDevice);
    assert_eq!(
        alice.client.history(room.id, None, None, 50).await,
        (vec![1], false)
    );
}

pub async fn key_packages_run_low_and_devices_are_announced(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Device::register(&svc, "alice").await;
    let mut bob = Device::register(&svc, "bob").await;
    let room = alice.client.create_encrypted_room("pool").await;
    alice
        .client
        .ok(Request::Invite {
            room_id: room.id,
            username: name("bob"),
        })
        .await;
    bob.client.join(room.id).await;
    bob.client.drain().await;
    let bob_device = bob.machine.device_id().unwrap();
    // Bob uploaded 3; each claim takes one and then the last resort stays.
    for expected in [2, 1, 0, 0] {
        match alice
            .client
            .ok(Request::ClaimKeyPackages {
                room_id: room.id,
                device_ids: vec![bob_device],
            })
            .await
        {
            Response::KeyPackages { key_packages, .. } => assert_eq!(key_packages.len(), 1),
            other => panic!("{other:?}"),
        }
        let told = bob.client.drain().await.into_iter().find_map(|e| match e {
            Event::KeyPackagesLow { device_id, remaining } => Some((device_id, remaining)),
            _ => None,
        });
        assert_eq!(
            told,
            Some((bob_device, expected)),
            "bob's device is told its pool is low"
        );
    }
    // A second device of bob's: alice, who shares a room with him, hears of it and sees it.
    alice.client.drain().await;
    let second = Device::register_device_for(&svc, "bob").await;
    let announced = alice
        .client
        .drain()
        .await
        .into_iter()
        .any(|e| matches!(e, Event::DevicesChanged { ref user } if user.username.as_str() == "bob"));
    assert!(announced, "contacts hear of a new device");
    match alice
        .client
        .ok(Request::ListDevices {
            user_id: bob.client.user_id(),
        })
        .await
    {
        Response::Devices { devices, .. } => {
            assert_eq!(devices.len(), 2);
            assert!(devices.iter().any(|d| Some(d.id) == second.machine.device_id()));
            assert!(devices.iter().all(|d| d.fingerprint.len() == 95));
        }
        other => panic!("{other:?}"),
    }
    // The room's device list follows: both of bob's devices are in it.
    assert_eq!(alice.room_devices(room.id).await.len(), 3);

    // An account has at most MAX_DEVICES_PER_USER devices; removing one makes room.
    let mut more = Vec::new();
    for _ in 2..chat_proto::MAX_DEVICES_PER_USER {
        more.push(Device::register_device_for(&svc, "bob").await);
    }
    let mut extra = Client::login(&svc, "bob").await;
    let sixth = Machine::create(extra.user_id(), MemoryStore::new()).unwrap();
    let register = || Request::RegisterDevice {
        name: DeviceName::parse("one too many").unwrap(),
        signature_key: bytes(sixth.signature_public_key().to_vec()),
    };
    assert_eq!(extra.code(register()).await, ErrorCode::TooManyDevices);
    extra
        .ok(Request::RemoveDevice {
            device_id: second.machine.device_id().unwrap(),
        })
        .await;
    assert!(matches!(extra.ok(register()).await, Response::Device { .. }));
}

impl Device {
    /// Logs in as an existing user and registers a new device of theirs.
    pub async fn register_device_for(svc: &chat_core::ChatService, username: &str) -> Device {
        let mut client = Client::login(svc, username).await;
        let mut machine = Machine::create(client.user_id(), MemoryStore::new()).unwrap();
        match client
            .ok(Request::RegisterDevice {
                name: DeviceName::parse("second device").unwrap(),
                signature_key: bytes(machine.signature_public_key().to_vec()),
            })
            .await
        {
            Response::Device { device } => machine.set_device_id(device.id).unwrap(),
            other => panic!("{other:?}"),
        }
        Device { client, machine }
    }
}
