//! The task that does the MLS work in order: items of encrypted rooms as the sequencer
//! delivers them (each once, in `seq` order), Welcomes, and commits that keep each room's
//! group in step with its members' devices. One task, so the machine sees one thing at a
//! time; history pages take the same turn through [`E2ee::processing`](super::E2ee).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chat_e2ee::{DeviceToAdd, E2eeError, PendingCommit, Processed, RoomDevice};
use chat_proto::{
    Base64Bytes, ClientMsgId, Content, ErrorCode, Message, MessageBody, Notice, OutgoingWelcome, Request,
    Response, RoomId, Seq, Welcome,
};

use chat_proto::limits::MAX_DEVICES_PER_CLAIM;

use super::records::{self, Outcome};
use super::{Input, Undecryptable, UndecryptableReason, publish_undecryptable};
use crate::error::ClientError;
use crate::events::ClientEvent;
use crate::shared::Shared;

/// Items of a room held while its group is missing (the Welcome has not come); past it
/// the oldest is given up as waiting for keys.
const MAX_HELD: usize = 1_000;
/// Commits tried for one change before waiting for the next reason to try.
const MAX_ATTEMPTS: u32 = 8;
/// Later tries for devices that had no key package yet (they upload right after
/// registering).
const MAX_LATER: u32 = 6;

/// Runs the worker for as long as the client lives.
pub(crate) async fn run(shared: Arc<Shared>) {
    let Some(mut inputs) = shared.e2ee.take_inputs() else {
        return;
    };
    let mut worker = Worker {
        shared,
        waiting: HashMap::new(),
        later: HashMap::new(),
    };
    loop {
        let input = tokio::select! {
            _ = worker.shared.shutdown.cancelled() => return,
            input = inputs.recv() => match input {
                Some(input) => input,
                None => return,
            },
        };
        worker.handle(input).await;
    }
}

struct Worker {
    shared: Arc<Shared>,
    /// Items delivered but not yet processed, per room.
    waiting: HashMap<RoomId, BTreeMap<Seq, Message>>,
    /// Later tries scheduled per room (devices without key packages).
    later: HashMap<RoomId, u32>,
}

/// How one step of a room's sync ended.
enum SyncStep {
    Done,
    /// Plan again now (the group moved).
    Again,
    /// Some devices had no key package: try again in a while.
    Later,
}

impl Worker {
    async fn handle(&mut self, input: Input) {
        tracing::trace!(user = ?self.shared.user().map(|u| u.username), input = input.name(), "encryption input");
        match input {
            Input::Item(item) => {
                let room = item.room_id;
                self.waiting.entry(room).or_default().insert(item.seq, item);
                self.drain(room).await;
            }
            Input::Welcome(welcome) => {
                let room = welcome.room_id;
                self.welcome(welcome).await;
                self.drain(room).await;
            }
            Input::Connected => self.connected().await,
            Input::Sync(room) => self.sync_room(room).await,
            Input::SyncAll => {
                for room in self.shared.e2ee.encrypted_rooms() {
                    self.sync_room(room).await;
                }
            }
            Input::KeyPackagesLow => super::device::top_up(&self.shared).await,
            Input::CatchUp(room, done) => {
                {
                    let _turn = self.shared.e2ee.processing.lock().await;
                    if let Err(error) = catch_up(&self.shared, room, None).await {
                        tracing::debug!(%error, %room, "cannot catch up");
                    }
                }
                let _ = done.send(());
                self.drain(room).await;
            }
            Input::Flush(done) => {
                let _ = done.send(());
            }
            Input::Reset => {
                self.waiting.clear();
                self.later.clear();
            }
        }
    }

    /// After the device is in use on a new connection: join what Welcomes wait, let held
    /// items through, and bring every encrypted room in step (a removal made while this
    /// device was away is committed now).
    async fn connected(&mut self) {
        let welcomes = self.shared.call(Request::ListWelcomes).await;
        tracing::trace!(ok = welcomes.is_ok(), "welcomes listed");
        match welcomes {
            Ok(Response::Welcomes { mut welcomes }) => {
                welcomes.sort_by_key(|w| w.seq);
                for welcome in welcomes {
                    self.welcome(welcome).await;
                }
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "cannot list welcomes"),
        }
        let held: Vec<RoomId> = self.waiting.keys().copied().collect();
        for room in held {
            self.drain(room).await;
        }
        let mut rooms = self.shared.e2ee.encrypted_rooms();
        if let Some(grouped) = self.shared.e2ee.with_machine(|m| m.rooms()) {
            rooms.extend(grouped);
        }
        rooms.sort();
        rooms.dedup();
        for room in rooms {
            self.sync_room(room).await;
        }
    }

    /// Processes the room's waiting items in order, as far as it can.
    async fn drain(&mut self, room: RoomId) {
        let shared = self.shared.clone();
        let _turn = shared.e2ee.processing.lock().await;
        while let Some(item) = self.waiting.get(&room).and_then(|w| w.values().next().cloned()) {
            if !self.step(&item).await {
                break;
            }
            if let Some(waiting) = self.waiting.get_mut(&room) {
                waiting.remove(&item.seq);
            }
        }
        if self.waiting.get(&room).is_some_and(|w| w.is_empty()) {
            self.waiting.remove(&room);
        }
    }

    /// Handles one delivered item; false if it must wait (no group yet, or the server
    /// could not be asked for what lies before it).
    async fn step(&mut self, item: &Message) -> bool {
        let shared = &self.shared;
        let room = item.room_id;
        tracing::trace!(user = ?shared.user().map(|u| u.username), %room, seq = item.seq, kind = ?item.content, "an item of an encrypted room");
        if item.mls().is_none() {
            self.notice(item);
            return true;
        }
        let state = shared
            .e2ee
            .with_machine(|m| (m.has_group(room), m.last_seq(room)));
        match state {
            None => {
                if matches!(item.content, Content::Mls { .. }) {
                    publish_undecryptable(
                        shared,
                        Undecryptable::of(item, UndecryptableReason::WaitingForKeys),
                    );
                }
                true
            }
            Some((false, _)) => {
                let held = self.waiting.get(&room).map_or(0, BTreeMap::len);
                if held > MAX_HELD {
                    if matches!(item.content, Content::Mls { .. }) {
                        publish_undecryptable(
                            shared,
                            Undecryptable::of(item, UndecryptableReason::WaitingForKeys),
                        );
                    }
                    return true;
                }
                if held == 1 {
                    // The first item held: maybe nobody made the group yet.
                    shared.e2ee.push(Input::Sync(room));
                }
                false
            }
            Some((true, last)) => {
                if item.seq > last.unwrap_or(0) + 1
                    && let Err(error) = catch_up(shared, room, Some(item.seq - 1)).await
                {
                    tracing::debug!(%error, %room, "cannot fetch the items before a delivered one");
                    return false;
                }
                let last = shared
                    .e2ee
                    .with_machine(|m| m.last_seq(room))
                    .flatten()
                    .unwrap_or(0);
                if item.seq <= last {
                    publish_recorded(shared, item);
                    return true;
                }
                match process_one(shared, item) {
                    Ok(outcome) => {
                        publish_outcome(shared, item, outcome);
                        true
                    }
                    Err(()) => false,
                }
            }
        }
    }

    /// A plain item of an encrypted room (a notice): shown, and a membership change brings
    /// the group in step.
    fn notice(&mut self, item: &Message) {
        publish_message(&self.shared, item.clone());
        let Some(notice) = item.notice() else { return };
        let me = self.shared.user().map(|u| u.id);
        match notice {
            Notice::Left { user } | Notice::Removed { user } | Notice::Banned { user }
                if Some(user.id) == me =>
            {
                // Gone from the room: no key of it stays behind.
                let _ = self.shared.e2ee.with_machine(|m| m.forget_group(item.room_id));
            }
            Notice::Joined { .. }
            | Notice::Left { .. }
            | Notice::Removed { .. }
            | Notice::Banned { .. }
            | Notice::Created { .. } => {
                crate::events::lock(&self.shared.e2ee.out_of_step).insert(item.room_id);
                self.shared.e2ee.push(Input::Sync(item.room_id));
            }
            _ => {}
        }
    }

    /// Joins a room's group from a Welcome for this device, then acknowledges it.
    async fn welcome(&mut self, welcome: Welcome) {
        let shared = self.shared.clone();
        if shared.e2ee.device_id() != Some(welcome.device_id) {
            return;
        }
        let room = welcome.room_id;
        {
            let _turn = shared.e2ee.processing.lock().await;
            let joined = shared
                .e2ee
                .with_machine(|m| m.has_group(room) && m.last_seq(room).is_some_and(|l| l >= welcome.seq));
            if joined == Some(false) {
                let result = shared
                    .e2ee
                    .with_machine(|m| m.join_from_welcome(room, welcome.seq, welcome.mls.as_bytes()));
                match result {
                    Some(Ok(())) => {
                        shared.e2ee.mark_encrypted(room);
                        tracing::debug!(%room, seq = welcome.seq, "joined the room's group");
                    }
                    Some(Err(e)) if e.is_retryable() => return,
                    Some(Err(error)) => tracing::warn!(%error, %room, "a Welcome did not open"),
                    None => return,
                }
            }
        }
        if let Err(error) = self
            .shared
            .call(Request::AckWelcome {
                welcome_id: welcome.id,
            })
            .await
        {
            tracing::debug!(%error, "cannot acknowledge a welcome");
        }
        if let Ok(devices) = room_devices(&self.shared, room).await {
            let _ = self.shared.e2ee.with_machine(|m| m.learn_devices(&devices));
        }
        let tracked = crate::events::lock(&self.shared.rooms).position(room);
        if tracked.is_none() {
            // A room first heard of by its Welcome: deliver from the join on.
            self.shared.start_room_at(room, welcome.seq);
        }
    }

    /// Brings the room's group in step with its members' devices, retrying a stale commit.
    async fn sync_room(&mut self, room: RoomId) {
        self.sync_attempts(room).await;
        crate::events::lock(&self.shared.e2ee.out_of_step).remove(&room);
    }

    async fn sync_attempts(&mut self, room: RoomId) {
        for _ in 0..MAX_ATTEMPTS {
            match self.sync_once(room).await {
                Ok(SyncStep::Done) => {
                    self.later.remove(&room);
                    return;
                }
                Ok(SyncStep::Again) => continue,
                Ok(SyncStep::Later) => {
                    let tries = self.later.entry(room).or_insert(0);
                    *tries += 1;
                    if *tries <= MAX_LATER {
                        let delay = Duration::from_millis(200 << *tries);
                        let shared = self.shared.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            shared.e2ee.push(Input::Sync(room));
                        });
                    }
                    return;
                }
                Err(error) => {
                    tracing::debug!(%error, %room, "cannot bring the room's group in step now");
                    return;
                }
            }
        }
    }

    async fn sync_once(&mut self, room: RoomId) -> Result<SyncStep, ClientError> {
        let shared = self.shared.clone();
        tracing::trace!(%room, "bringing the room's group in step");
        let Some(has_group) = shared.e2ee.with_machine(|m| m.has_group(room)) else {
            return Ok(SyncStep::Done);
        };
        if !has_group {
            match shared.call(Request::CreateGroup { room_id: room }).await {
                Ok(_) => {
                    let made = shared.e2ee.with_machine(|m| m.create_group(room));
                    if let Some(Err(error)) = made {
                        tracing::warn!(%error, %room, "cannot make the room's group");
                        return Ok(SyncStep::Done);
                    }
                    shared.e2ee.mark_encrypted(room);
                }
                Err(ClientError::Server(e)) => {
                    // `group_exists`: a member's device adds this one. Others: not a member,
                    // not encrypted.
                    if e.code == ErrorCode::RoomNotEncrypted {
                        crate::events::lock(&shared.e2ee.encrypted).remove(&room);
                    }
                    return Ok(SyncStep::Done);
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(pending) = shared.e2ee.with_machine(|m| m.pending_commit(room)).flatten() {
            return self.send_commit(room, pending).await;
        }
        let devices = match room_devices(&shared, room).await {
            Ok(devices) => devices,
            Err(ClientError::Server(_)) => return Ok(SyncStep::Done),
            Err(e) => return Err(e),
        };
        let plan = match shared.e2ee.with_machine(|m| m.plan(room, &devices)) {
            Some(Ok(plan)) => plan,
            Some(Err(error)) => {
                tracing::debug!(%error, %room, "no plan for the room's group");
                return Ok(SyncStep::Done);
            }
            None => return Ok(SyncStep::Done),
        };
        tracing::trace!(%room, add = plan.add.len(), remove = plan.remove.len(), "plan");
        if plan.is_empty() {
            return Ok(SyncStep::Done);
        }
        let mut adds = Vec::new();
        for chunk in plan.add.chunks(MAX_DEVICES_PER_CLAIM) {
            let request = Request::ClaimKeyPackages {
                room_id: room,
                device_ids: chunk.iter().map(|d| d.device).collect(),
            };
            let claimed = match shared.call(request).await {
                Ok(Response::KeyPackages { key_packages, .. }) => key_packages,
                Ok(_) => {
                    return Err(ClientError::UnexpectedResponse {
                        expected: "key_packages",
                    });
                }
                // A device gone since the listing: plan again.
                Err(ClientError::Server(e)) if e.code == ErrorCode::NotFound => return Ok(SyncStep::Again),
                Err(e) => return Err(e),
            };
            for package in claimed {
                if let Some(device) = chunk.iter().find(|d| d.device == package.device_id) {
                    adds.push(DeviceToAdd {
                        device: device.clone(),
                        key_package: package.key_package.into_bytes(),
                    });
                }
            }
        }
        let missing = adds.len() < plan.add.len();
        let made = shared.e2ee.with_machine(|m| m.commit(room, adds, &plan.remove));
        let pending = match made {
            Some(Ok(pending)) => pending,
            Some(Err(E2eeError::NothingToCommit)) | None => {
                return Ok(if missing { SyncStep::Later } else { SyncStep::Done });
            }
            Some(Err(error)) => {
                tracing::warn!(%error, %room, "cannot make a commit");
                return Ok(SyncStep::Later);
            }
        };
        let step = self.send_commit(room, pending).await?;
        Ok(match step {
            SyncStep::Again if missing => SyncStep::Later,
            other => other,
        })
    }

    /// Sends this device's pending commit; the room's timeline settles it either way.
    async fn send_commit(&mut self, room: RoomId, pending: PendingCommit) -> Result<SyncStep, ClientError> {
        let shared = self.shared.clone();
        let welcome = match pending.welcome {
            Some(welcome) if !pending.welcomed.is_empty() => Some(OutgoingWelcome {
                mls: Base64Bytes::new(welcome)?,
                device_ids: pending.welcomed.clone(),
            }),
            _ => None,
        };
        let request = Request::SendMls {
            room_id: room,
            client_msg_id: ClientMsgId::random(),
            mls: Base64Bytes::new(pending.commit)?,
            welcome,
        };
        let answer = shared.call(request).await;
        tracing::trace!(%room, ok = answer.is_ok(), "commit sent");
        match answer {
            Ok(Response::Message { message }) => {
                let seq = message.seq;
                shared.offer(vec![message]);
                let _turn = shared.e2ee.processing.lock().await;
                catch_up(&shared, room, Some(seq)).await?;
                Ok(SyncStep::Again)
            }
            Ok(_) => {
                let _ = shared.e2ee.with_machine(|m| m.commit_refused(room));
                Ok(SyncStep::Done)
            }
            Err(ClientError::Server(e)) if e.code == ErrorCode::StaleEpoch => {
                // Another device's commit took the epoch (or this one's first sending did):
                // the timeline says which; then plan again.
                let _turn = shared.e2ee.processing.lock().await;
                catch_up(&shared, room, None).await?;
                if shared
                    .e2ee
                    .with_machine(|m| m.pending_commit(room).is_some())
                    .unwrap_or(false)
                {
                    let _ = shared.e2ee.with_machine(|m| m.commit_refused(room));
                }
                Ok(SyncStep::Again)
            }
            Err(ClientError::Server(e)) if !e.retryable => {
                tracing::warn!(error = %e, %room, "the server refused a commit");
                let _ = shared.e2ee.with_machine(|m| m.commit_refused(room));
                Ok(SyncStep::Done)
            }
            Err(e) => Err(e),
        }
    }
}

/// Every device of the room's members, as the machine takes them.
async fn room_devices(shared: &Arc<Shared>, room: RoomId) -> Result<Vec<RoomDevice>, ClientError> {
    match shared.call(Request::RoomDevices { room_id: room }).await? {
        Response::RoomDevices { devices, .. } => Ok(devices
            .into_iter()
            .map(|d| RoomDevice {
                user: d.user.id,
                device: d.id,
                signature_key: d.signature_key.into_bytes(),
            })
            .collect()),
        _ => Err(ClientError::UnexpectedResponse {
            expected: "room_devices",
        }),
    }
}

/// Processes the room's items after the group's position, up to `up_to` (all of them
/// without), fetched from the server, without showing them: what they were is recorded and
/// shown when the sequencer delivers them. The caller holds the processing turn.
pub(crate) async fn catch_up(
    shared: &Arc<Shared>,
    room: RoomId,
    up_to: Option<Seq>,
) -> Result<(), ClientError> {
    let Some(Some(mut after)) = shared
        .e2ee
        .with_machine(|m| m.has_group(room).then(|| m.last_seq(room).unwrap_or(0)))
    else {
        return Ok(());
    };
    loop {
        if up_to.is_some_and(|u| after >= u) {
            return Ok(());
        }
        let request = Request::History {
            room_id: room,
            before_seq: None,
            after_seq: Some(after),
            limit: chat_proto::MAX_PAGE_SIZE,
        };
        let (messages, has_more) = match shared.call(request).await? {
            Response::Messages {
                messages, has_more, ..
            } => (messages, has_more),
            _ => return Err(ClientError::UnexpectedResponse { expected: "messages" }),
        };
        if messages.is_empty() {
            return Ok(());
        }
        for item in messages {
            if up_to.is_some_and(|u| item.seq > u) {
                return Ok(());
            }
            after = after.max(item.seq);
            if item.mls().is_none() {
                continue;
            }
            let state = shared
                .e2ee
                .with_machine(|m| (m.has_group(room), m.last_seq(room)));
            match state {
                Some((true, last)) if item.seq > last.unwrap_or(0) => {
                    process_one(shared, &item).map_err(|()| {
                        ClientError::Encryption("the device's state could not be saved".into())
                    })?;
                }
                Some((true, _)) => {}
                _ => return Ok(()),
            }
        }
        if !has_more {
            return Ok(());
        }
    }
}

/// Processes one MLS item (the next of its room) and records what it was. `Err` when the
/// state could not be saved: the item stays unprocessed, to be given again.
fn process_one(shared: &Arc<Shared>, item: &Message) -> Result<Option<Outcome>, ()> {
    let Some(bytes) = item.mls() else { return Ok(None) };
    let room = item.room_id;
    let commit = matches!(item.content, Content::MlsCommit { .. });
    let Some(result) = shared
        .e2ee
        .with_machine(|m| m.process(room, item.seq, bytes.as_bytes()))
    else {
        return Err(());
    };
    let outcome = match result {
        Ok(Processed::Message(received)) => {
            if received.sender.user != item.sender.id {
                // The server named another sender than the one who signed it.
                Some(Outcome::Failed(UndecryptableReason::Tampered))
            } else {
                match MessageBody::parse(&received.text) {
                    Ok(body) => Some(Outcome::Decrypted(Message {
                        device_id: received.sender.device.or(item.device_id),
                        content: Content::Text { body },
                        ..item.clone()
                    })),
                    Err(_) => Some(Outcome::Failed(UndecryptableReason::NotDecryptable)),
                }
            }
        }
        Ok(Processed::Commit(report)) => {
            if report.superseded_own_commit {
                shared.e2ee.push(Input::Sync(room));
            }
            None
        }
        Ok(_) => None,
        Err(error) if error.is_retryable() => {
            tracing::warn!(%error, %room, "cannot save the device's state");
            return Err(());
        }
        Err(error) => {
            tracing::debug!(%error, %room, seq = item.seq, "an encrypted item did not open");
            (!commit).then(|| Outcome::Failed(reason_of(&error)))
        }
    };
    if let Some(outcome) = &outcome
        && let Err(error) = records::put(shared, room, item.seq, outcome)
    {
        tracing::warn!(%error, "cannot keep a decrypted message");
    }
    Ok(outcome)
}

fn reason_of(error: &E2eeError) -> UndecryptableReason {
    match error {
        E2eeError::Tampered { .. }
        | E2eeError::Malformed { .. }
        | E2eeError::BadPayload { .. }
        | E2eeError::WrongGroup { .. }
        | E2eeError::InvalidMember { .. } => UndecryptableReason::Tampered,
        E2eeError::Replayed => UndecryptableReason::Replayed,
        E2eeError::Removed { .. } => UndecryptableReason::Removed,
        _ => UndecryptableReason::NotDecryptable,
    }
}

/// Shows an item processed earlier, from its record.
fn publish_recorded(shared: &Shared, item: &Message) {
    match records::get(shared, item.room_id, item.seq) {
        Ok(Some(outcome)) => publish_outcome(shared, item, Some(outcome)),
        Ok(None) if matches!(item.content, Content::Mls { .. }) => {
            publish_undecryptable(shared, Undecryptable::of(item, UndecryptableReason::BeforeJoined))
        }
        Ok(None) => {}
        Err(error) => {
            shared.hub.publish(ClientEvent::StoreDamaged { error });
            publish_undecryptable(
                shared,
                Undecryptable::of(item, UndecryptableReason::NotDecryptable),
            );
        }
    }
}

fn publish_outcome(shared: &Shared, item: &Message, outcome: Option<Outcome>) {
    match outcome {
        Some(Outcome::Decrypted(message)) => publish_message(shared, message),
        Some(Outcome::Failed(reason)) => publish_undecryptable(shared, Undecryptable::of(item, reason)),
        None => {}
    }
}

fn publish_message(shared: &Shared, message: Message) {
    shared.hub.publish(ClientEvent::Message(message.clone()));
    shared.record(std::slice::from_ref(&message));
}
