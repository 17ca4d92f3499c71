//! Setting up end-to-end encrypted rooms for a traffic run, through the protocol as a client
//! would: the rooms' owner registers a device, creates each room encrypted, claims its MLS
//! group and hands out an invite link; every client joins by the link; each sender registers
//! a device and uploads a key package; the owner's device adds the senders' devices in one
//! commit with a Welcome; each sender joins its group from the Welcome.
//!
//! Then each sender encrypts a pool of distinct messages before the measured part starts,
//! so the load generator's single thread spends the run on the wire, as in a public room:
//! encrypting is the device's work (measured by chat-e2ee's criterion bench), and the server
//! does exactly the same work for a ciphertext sent once or again. Receivers count the
//! ciphertexts they are delivered without decrypting them, for the same reason.

use std::rc::Rc;

use base64::Engine as _;
use chat_e2ee::{DeviceToAdd, Machine, MemoryStore, RoomDevice};
use chat_proto::{
    Base64Bytes, ClientFrame, ClientMsgId, DeviceId, DeviceName, OutgoingWelcome, Request, Response, RoomId,
    RoomName, ServerFrame, UserId, Visibility,
};

use crate::conn::Conn;
use crate::error::LoadError;
use crate::plan::Plan;
use crate::setup::{self, Account, Joining};
use crate::track::Tracker;
use crate::wire::Endpoint;

/// Distinct ciphertexts encrypted per sender before the run; the sender sends them in turn.
pub const POOL: usize = 512;

/// A sender's pool of ready ciphertexts, base64 as they go on the wire.
pub type Pool = Rc<[String]>;

type Device = Machine<MemoryStore>;

fn frame(request: Request) -> String {
    ClientFrame::new(request).to_json()
}

fn unexpected(what: &str, frame: &ServerFrame) -> LoadError {
    LoadError::Protocol(format!("unexpected answer to {what}: {frame:?}"))
}

fn mls_failed(what: &str, e: chat_e2ee::E2eeError) -> LoadError {
    LoadError::Protocol(format!("{what}: {e}"))
}

fn base64(bytes: Vec<u8>) -> Result<Base64Bytes, LoadError> {
    Base64Bytes::new(bytes).map_err(|e| LoadError::Protocol(format!("MLS bytes: {e}")))
}

fn room_id(room: u64) -> Result<RoomId, LoadError> {
    RoomId::new(room).map_err(|e| LoadError::Config(format!("room id: {e}")))
}

/// Sends `request` and returns its successful answer.
async fn ask(conn: &Conn, what: &'static str, request: Request) -> Result<Response, LoadError> {
    match conn.request(what, frame(request)).await? {
        ServerFrame::Response { result, .. } => Ok(result),
        other => Err(unexpected(what, &other)),
    }
}

/// Makes a device for `user` on `conn`: its MLS machine, registered with the server, with
/// `key_packages` one-time key packages uploaded.
async fn register_device(conn: &Conn, user: UserId, key_packages: usize) -> Result<Device, LoadError> {
    let mut device = Machine::create(user, MemoryStore::new()).map_err(|e| mls_failed("new device", e))?;
    let request = Request::RegisterDevice {
        name: DeviceName::parse("load generator").map_err(|e| LoadError::Config(e.to_string()))?,
        signature_key: base64(device.signature_public_key().to_vec())?,
    };
    let id = match ask(conn, "register_device", request).await? {
        Response::Device { device } => device.id,
        other => return Err(LoadError::Protocol(format!("register_device answered {other:?}"))),
    };
    device.set_device_id(id).map_err(|e| mls_failed("device id", e))?;
    if key_packages > 0 {
        let packages = device
            .key_packages(key_packages)
            .map_err(|e| mls_failed("key packages", e))?;
        let request = Request::UploadKeyPackages {
            key_packages: packages.into_iter().map(base64).collect::<Result<_, _>>()?,
            last_resort: None,
        };
        ask(conn, "upload_key_packages", request).await?;
    }
    Ok(device)
}

/// The rooms' owner while the run is set up: its connection and its device.
struct Owner {
    conn: Rc<Conn>,
    device: Device,
}

impl Owner {
    /// Registers the owner with a device, creates `count` encrypted private rooms with their
    /// groups, and returns the rooms with an invite link's token each.
    async fn create_rooms(
        endpoint: &Endpoint,
        tracker: &Rc<Tracker>,
        prefix: &str,
        count: usize,
    ) -> Result<(Self, Vec<u64>, Vec<String>), LoadError> {
        let conn = Conn::open(endpoint, usize::MAX, tracker.clone()).await?;
        let (_, user) = setup::register_user(&conn, &format!("{prefix}owner")).await?;
        let mut device = register_device(&conn, user, 0).await?;
        let (mut rooms, mut links) = (Vec::with_capacity(count), Vec::with_capacity(count));
        for i in 0..count {
            let name = RoomName::parse(&format!("{prefix}-sealed-{i}"))
                .map_err(|e| LoadError::Config(format!("room name: {e}")))?;
            let request = Request::CreateRoom {
                name,
                visibility: Visibility::Private,
                topic: None,
                encrypted: Some(true),
            };
            let room = match ask(&conn, "create_room", request).await? {
                Response::Room { room } => room.id,
                other => return Err(LoadError::Protocol(format!("create_room answered {other:?}"))),
            };
            ask(&conn, "create_group", Request::CreateGroup { room_id: room }).await?;
            device
                .create_group(room)
                .map_err(|e| mls_failed("create group", e))?;
            let request = Request::CreateInviteLink {
                room_id: room,
                expires_in_secs: None,
                max_uses: None,
            };
            let token = match ask(&conn, "create_invite_link", request).await? {
                Response::InviteLink { link } => link.token.map(|t| t.as_str().to_owned()),
                other => {
                    return Err(LoadError::Protocol(format!(
                        "create_invite_link answered {other:?}"
                    )));
                }
            };
            rooms.push(room.get());
            links.push(token.ok_or_else(|| LoadError::Protocol("a new link without its token".into()))?);
        }
        Ok((Self { conn, device }, rooms, links))
    }

    /// Adds every device of `room`'s members that is not in its group yet, in one commit
    /// with the Welcome, as any member device does when membership changes.
    async fn add_devices(&mut self, room: u64) -> Result<(), LoadError> {
        let room_id = room_id(room)?;
        let listed = match ask(&self.conn, "room_devices", Request::RoomDevices { room_id }).await? {
            Response::RoomDevices { devices, .. } => devices,
            other => return Err(LoadError::Protocol(format!("room_devices answered {other:?}"))),
        };
        let devices: Vec<RoomDevice> = listed
            .into_iter()
            .map(|d| RoomDevice {
                user: d.user.id,
                device: d.id,
                signature_key: d.signature_key.as_bytes().to_vec(),
            })
            .collect();
        let plan = self
            .device
            .plan(room_id, &devices)
            .map_err(|e| mls_failed("plan", e))?;
        if plan.add.is_empty() {
            return Ok(());
        }
        let request = Request::ClaimKeyPackages {
            room_id,
            device_ids: plan.add.iter().map(|d| d.device).collect(),
        };
        let claimed = match ask(&self.conn, "claim_key_packages", request).await? {
            Response::KeyPackages { key_packages, .. } => key_packages,
            other => {
                return Err(LoadError::Protocol(format!(
                    "claim_key_packages answered {other:?}"
                )));
            }
        };
        let adds: Vec<DeviceToAdd> = claimed
            .into_iter()
            .filter_map(|c| {
                let device = plan.add.iter().find(|d| d.device == c.device_id)?.clone();
                Some(DeviceToAdd {
                    device,
                    key_package: c.key_package.as_bytes().to_vec(),
                })
            })
            .collect();
        let added: Vec<DeviceId> = adds.iter().map(|a| a.device.device).collect();
        let pending = self
            .device
            .commit(room_id, adds, &plan.remove)
            .map_err(|e| mls_failed("commit", e))?;
        let welcome = match pending.welcome {
            Some(mls) => Some(OutgoingWelcome {
                mls: base64(mls)?,
                device_ids: added,
            }),
            None => None,
        };
        let request = Request::SendMls {
            room_id,
            client_msg_id: ClientMsgId::random(),
            mls: base64(pending.commit.clone())?,
            welcome,
        };
        let seq = match ask(&self.conn, "send_mls", request).await? {
            Response::Message { message } => message.seq,
            other => return Err(LoadError::Protocol(format!("send_mls answered {other:?}"))),
        };
        self.device
            .process(room_id, seq, &pending.commit)
            .map_err(|e| mls_failed("own commit", e))?;
        Ok(())
    }
}

/// A sender's device joins its room's group from the Welcome waiting for it and encrypts
/// its pool of `body_bytes`-long texts.
async fn seal_pool(
    conn: &Conn,
    mut device: Device,
    room: u64,
    sender: usize,
    body_bytes: usize,
) -> Result<Pool, LoadError> {
    let room_id = room_id(room)?;
    let welcomes = match ask(conn, "list_welcomes", Request::ListWelcomes).await? {
        Response::Welcomes { welcomes } => welcomes,
        other => return Err(LoadError::Protocol(format!("list_welcomes answered {other:?}"))),
    };
    let welcome = welcomes
        .into_iter()
        .find(|w| w.room_id == room_id)
        .ok_or_else(|| LoadError::Protocol(format!("sender {sender}: no Welcome for room {room}")))?;
    device
        .join_from_welcome(room_id, welcome.seq, welcome.mls.as_bytes())
        .map_err(|e| mls_failed("join from Welcome", e))?;
    ask(
        conn,
        "ack_welcome",
        Request::AckWelcome {
            welcome_id: welcome.id,
        },
    )
    .await?;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut pool = Vec::with_capacity(POOL);
    for i in 0..POOL {
        let mut text = format!("lg {sender} {i} ");
        while text.len() < body_bytes {
            text.push('.');
        }
        let sealed = device
            .encrypt(room_id, &text)
            .map_err(|e| mls_failed("encrypt", e))?;
        pool.push(engine.encode(sealed));
    }
    Ok(pool.into())
}

/// The start of an encrypted traffic phase: the plan's rooms, encrypted, its clients
/// connected and joined by invite links, and every sender's device in its room's group with
/// a pool of ciphertexts (sender `j`'s pool is `pools[j]`).
pub async fn populate(
    endpoints: &[Endpoint],
    tracker: &Rc<Tracker>,
    prefix: &str,
    plan: &Plan,
) -> Result<(Vec<u64>, Vec<(Rc<Conn>, Account)>, Vec<Pool>), LoadError> {
    let (mut owner, rooms, links) = Owner::create_rooms(&endpoints[0], tracker, prefix, plan.rooms).await?;
    let joining = Joining::Links(&links);
    let made = setup::register_clients(
        endpoints,
        tracker,
        prefix,
        plan.clients,
        &rooms,
        joining,
        plan.concurrency,
    )
    .await?;
    let mut devices = Vec::with_capacity(plan.senders);
    for (conn, account) in made.iter().take(plan.senders) {
        devices.push(register_device(conn, account.user, 1).await?);
    }
    for &room in &rooms {
        owner.add_devices(room).await?;
    }
    owner.conn.close();
    let mut pools = Vec::with_capacity(plan.senders);
    for (j, device) in devices.into_iter().enumerate() {
        let (conn, account) = &made[j];
        pools.push(seal_pool(conn, device, account.room, j, plan.body_bytes).await?);
    }
    eprintln!(
        "  {} sender device(s) in the groups of {} encrypted room(s), {POOL} ciphertexts each",
        pools.len(),
        rooms.len()
    );
    Ok((rooms, made, pools))
}
