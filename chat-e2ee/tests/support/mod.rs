//! A tiny delivery service for the tests, playing the server's part with no network: it
//! registers devices and their key packages, hands out one key package per claim, keeps
//! each room's member list, numbers the room's MLS items by `seq`, accepts exactly one
//! commit per epoch (reading the epoch from the MLS framing, as the real server does) and
//! refuses stale items, and holds Welcomes for the devices they add.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap, VecDeque};

use chat_e2ee::{DeviceToAdd, E2eeError, Machine, MemoryStore, PendingCommit, Processed, RoomDevice, Store};
use chat_proto::{DeviceId, RoomId, Seq, UserId};
use openmls::prelude::{ContentType, MlsMessageIn, tls_codec::Deserialize as _};

pub fn user(id: u64) -> UserId {
    UserId::new(id).unwrap()
}

pub fn room(id: u64) -> RoomId {
    RoomId::new(id).unwrap()
}

/// Why the server refused an item.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Made in another epoch than the room's current one.
    StaleEpoch { room_epoch: u64, item_epoch: u64 },
    /// Not an MLS group message.
    NotMls,
}

#[derive(Default)]
struct RoomLog {
    epoch: u64,
    items: Vec<(Seq, Vec<u8>)>,
    members: BTreeSet<UserId>,
}

#[derive(Default)]
struct Packages {
    one_time: VecDeque<Vec<u8>>,
    last_resort: Vec<u8>,
}

/// The server's side.
#[derive(Default)]
pub struct Server {
    rooms: HashMap<RoomId, RoomLog>,
    devices: Vec<RoomDevice>,
    packages: HashMap<DeviceId, Packages>,
    welcomes: HashMap<(DeviceId, RoomId), (Seq, Vec<u8>)>,
    next_seq: HashMap<RoomId, Seq>,
}

impl Server {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the machine's signature key (giving it a device id) and uploads
    /// `one_time` key packages plus its last-resort one.
    pub fn register<S: Store>(&mut self, machine: &mut Machine<S>, one_time: usize) -> DeviceId {
        let id = DeviceId::new(self.devices.len() as u64 + 1).unwrap();
        machine.set_device_id(id).unwrap();
        self.devices.push(machine.device().unwrap());
        let packages = Packages {
            one_time: machine.key_packages(one_time).unwrap().into(),
            last_resort: machine.last_resort_key_package(),
        };
        self.packages.insert(id, packages);
        id
    }

    /// Deletes a device: it is no longer listed for any room.
    pub fn delete_device(&mut self, id: DeviceId) {
        self.devices.retain(|d| d.device != id);
        self.packages.remove(&id);
    }

    /// Hands out one of the device's key packages: a one-time one while any is left, else
    /// the last-resort one.
    pub fn claim(&mut self, device: DeviceId) -> Option<Vec<u8>> {
        let packages = self.packages.get_mut(&device)?;
        Some(
            packages
                .one_time
                .pop_front()
                .unwrap_or_else(|| packages.last_resort.clone()),
        )
    }

    pub fn one_time_left(&self, device: DeviceId) -> usize {
        self.packages.get(&device).map_or(0, |p| p.one_time.len())
    }

    pub fn add_member(&mut self, room: RoomId, user: UserId) {
        self.rooms.entry(room).or_default().members.insert(user);
    }

    pub fn remove_member(&mut self, room: RoomId, user: UserId) {
        self.rooms.entry(room).or_default().members.remove(&user);
    }

    /// Every device of the room's current members.
    pub fn room_devices(&self, room: RoomId) -> Vec<RoomDevice> {
        let Some(log) = self.rooms.get(&room) else {
            return Vec::new();
        };
        self.devices
            .iter()
            .filter(|d| log.members.contains(&d.user))
            .cloned()
            .collect()
    }

    pub fn epoch(&self, room: RoomId) -> u64 {
        self.rooms.get(&room).map_or(0, |r| r.epoch)
    }

    /// Orders an MLS item: refused unless made in the room's current epoch; a commit
    /// moves the room to the next epoch.
    pub fn submit(&mut self, room: RoomId, bytes: &[u8]) -> Result<Seq, Refused> {
        let message = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| Refused::NotMls)?;
        let message = message.try_into_protocol_message().map_err(|_| Refused::NotMls)?;
        let item_epoch = message.epoch().as_u64();
        let log = self.rooms.entry(room).or_default();
        if item_epoch != log.epoch {
            return Err(Refused::StaleEpoch {
                room_epoch: log.epoch,
                item_epoch,
            });
        }
        if message.content_type() == ContentType::Commit {
            log.epoch += 1;
        }
        Ok(self.append(room, bytes.to_vec()))
    }

    /// Puts bytes into the room's timeline with no check, as a misbehaving server (or
    /// someone replaying traffic) could.
    pub fn inject(&mut self, room: RoomId, bytes: Vec<u8>) -> Seq {
        self.append(room, bytes)
    }

    fn append(&mut self, room: RoomId, bytes: Vec<u8>) -> Seq {
        let seq = self.next_seq.entry(room).or_insert(0);
        *seq += 1;
        let seq = *seq;
        self.rooms.entry(room).or_default().items.push((seq, bytes));
        seq
    }

    /// Orders a commit and, when accepted, keeps its Welcome for the devices it adds.
    pub fn submit_commit(&mut self, pending: &PendingCommit) -> Result<Seq, Refused> {
        let seq = self.submit(pending.room, &pending.commit)?;
        if let Some(welcome) = &pending.welcome {
            for device in &pending.welcomed {
                self.welcomes
                    .insert((*device, pending.room), (seq, welcome.clone()));
            }
        }
        Ok(seq)
    }

    pub fn welcome(&mut self, device: DeviceId, room: RoomId) -> Option<(Seq, Vec<u8>)> {
        self.welcomes.remove(&(device, room))
    }

    pub fn items_after(&self, room: RoomId, after: Option<Seq>) -> Vec<(Seq, Vec<u8>)> {
        let after = after.unwrap_or(0);
        self.rooms
            .get(&room)
            .map(|r| r.items.iter().filter(|(s, _)| *s > after).cloned().collect())
            .unwrap_or_default()
    }

    pub fn item(&self, room: RoomId, seq: Seq) -> Vec<u8> {
        self.rooms[&room]
            .items
            .iter()
            .find(|(s, _)| *s == seq)
            .unwrap()
            .1
            .clone()
    }
}

/// One device: its machine and what it saw.
pub struct Device<S: Store = MemoryStore> {
    pub machine: Machine<S>,
    pub id: DeviceId,
}

impl Device<MemoryStore> {
    /// A new device of `user`, registered with `one_time` key packages.
    pub fn new(server: &mut Server, user_id: u64, one_time: usize) -> Self {
        let mut machine = Machine::create(user(user_id), MemoryStore::new()).unwrap();
        let id = server.register(&mut machine, one_time);
        Device { machine, id }
    }
}

impl<S: Store> Device<S> {
    pub fn user(&self) -> UserId {
        self.machine.user()
    }

    /// Processes every item of the room this device has not processed yet, in order.
    pub fn sync(&mut self, server: &Server, room: RoomId) -> Vec<(Seq, Result<Processed, E2eeError>)> {
        let after = self.machine.last_seq(room);
        server
            .items_after(room, after)
            .into_iter()
            .map(|(seq, bytes)| (seq, self.machine.process(room, seq, &bytes)))
            .collect()
    }

    /// Like [`sync`](Device::sync), and every item must work; returns the texts read.
    pub fn sync_ok(&mut self, server: &Server, room: RoomId) -> Vec<String> {
        let mut texts = Vec::new();
        for (seq, result) in self.sync(server, room) {
            match result {
                Ok(Processed::Message(m)) => texts.push(m.text),
                Ok(_) => {}
                Err(e) => panic!("device {} failed on seq {seq}: {e}", self.id),
            }
        }
        texts
    }

    /// Sends a text as a client would: on a stale refusal, catch up and encrypt again.
    pub fn send(&mut self, server: &mut Server, room: RoomId, text: &str) -> Seq {
        for _ in 0..10 {
            let bytes = self.machine.encrypt(room, text).unwrap();
            match server.submit(room, &bytes) {
                Ok(seq) => return seq,
                Err(Refused::StaleEpoch { .. }) => {
                    self.sync(server, room);
                }
                Err(e) => panic!("refused: {e:?}"),
            }
        }
        panic!("could not send after 10 tries")
    }

    /// Makes and submits the commit that brings the group to the room's devices. Returns
    /// the commit's seq, `None` if nothing was to be done, or the refusal (the commit is
    /// then still pending).
    pub fn try_converge(&mut self, server: &mut Server, room: RoomId) -> Result<Option<Seq>, Refused> {
        let plan = self.machine.plan(room, &server.room_devices(room)).unwrap();
        if plan.is_empty() {
            return Ok(None);
        }
        let adds = plan
            .add
            .into_iter()
            .filter_map(|device| {
                let key_package = server.claim(device.device)?;
                Some(DeviceToAdd { device, key_package })
            })
            .collect();
        let pending = match self.machine.commit(room, adds, &plan.remove) {
            Ok(pending) => pending,
            Err(E2eeError::NothingToCommit) => return Ok(None),
            Err(e) => panic!("commit failed: {e}"),
        };
        server.submit_commit(&pending).map(Some)
    }

    /// Like [`try_converge`](Device::try_converge), retrying as a client does: on a
    /// stale refusal, catch up (the winning commit replaces this device's), plan again.
    pub fn converge(&mut self, server: &mut Server, room: RoomId) -> Option<Seq> {
        for _ in 0..10 {
            match self.try_converge(server, room) {
                Ok(seq) => {
                    self.sync_ok(server, room);
                    return seq;
                }
                Err(Refused::StaleEpoch { .. }) => {
                    self.sync_ok(server, room);
                    assert!(self.machine.pending_commit(room).is_none());
                }
                Err(e) => panic!("refused: {e:?}"),
            }
        }
        panic!("could not commit after 10 tries")
    }

    /// Opens the Welcome the server holds for this device in the room.
    pub fn join(&mut self, server: &mut Server, room: RoomId) {
        let (seq, welcome) = server.welcome(self.id, room).expect("a Welcome for this device");
        self.machine.join_from_welcome(room, seq, &welcome).unwrap();
        self.machine.learn_devices(&server.room_devices(room)).unwrap();
    }
}

/// Two devices of users 1 and 2 in room 1: the first created the group and added the
/// second, which joined.
pub fn two_devices(server: &mut Server) -> (RoomId, Device, Device) {
    let room = room(1);
    let mut alice = Device::new(server, 1, 5);
    let mut bob = Device::new(server, 2, 5);
    server.add_member(room, alice.user());
    server.add_member(room, bob.user());
    alice.machine.create_group(room).unwrap();
    alice.converge(server, room).unwrap();
    bob.join(server, room);
    (room, alice, bob)
}
