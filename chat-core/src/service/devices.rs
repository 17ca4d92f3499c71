//! Devices and their key packages: the public half of end-to-end encryption.
//!
//! Rules:
//! - A device is registered by its public signature key; the same key again is the same
//!   device. A connection says which device it is (`register_device`, `use_device`) before
//!   it uploads key packages, sends MLS messages or reads its Welcomes.
//! - Anyone may list their own devices and those of people they share a room with (to
//!   compare fingerprints); other users' devices answer `not_found`.
//! - Key packages are claimed for adding devices of a room's members to its group: one
//!   one-time package per claim, or the device's last-resort package when none is left. A
//!   device whose pool runs low is told (`key_packages_low`).
//! - Registering or removing a device tells the user's contacts (`devices_changed`).

use chat_proto::{
    Base64Bytes, ClaimedKeyPackage, Device, DeviceId, DeviceName, ErrorBody, ErrorCode, Event,
    MAX_DEVICES_PER_USER, Response, RoomId, UserId,
};
use sha2::{Digest, Sha256};

use super::connection::{Connection, event_payload};
use super::now_ms;
use super::reply::{Reply, refuse, store_failed};
use super::rules;
use crate::broker::BrokerEvent;
use crate::mls_framing;
use crate::store::{DeviceRecord, StoreError};

/// A device's pool is low below this many one-time key packages.
pub(super) const KEY_PACKAGES_LOW: u32 = 10;

/// The fingerprint people compare: SHA-256 of the public signature key, as uppercase hex
/// pairs separated by colons.
pub(crate) fn fingerprint(signature_key: &[u8]) -> String {
    Sha256::digest(signature_key)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The wire form of a stored device.
pub(super) fn device_view(record: DeviceRecord) -> Result<Device, ErrorBody> {
    let broken = |_| refuse(ErrorCode::Internal, "a stored device cannot be read");
    Ok(Device {
        id: record.id,
        fingerprint: fingerprint(&record.signature_key),
        signature_key: Base64Bytes::new(record.signature_key).map_err(broken)?,
        name: DeviceName::parse(&record.name).map_err(broken)?,
        user: record.user,
        created_at: record.created_at,
        last_seen_at: record.last_seen_at,
    })
}

/// What a request that needs a device is told without one.
pub(super) fn no_device() -> ErrorBody {
    refuse(
        ErrorCode::NoDevice,
        "this connection has no device: register_device or use_device first",
    )
}

impl Connection {
    /// The device this connection is.
    pub(super) fn my_device(&self) -> Result<DeviceId, ErrorBody> {
        self.device.ok_or_else(no_device)
    }

    /// Tells the user and everyone who shares a room with them that their devices changed.
    async fn announce_devices_changed(&self) {
        let Ok(me) = self.me().cloned() else { return };
        let mut users = match self.inner.store.co_member_ids(me.id).await {
            Ok(users) => users,
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell contacts about a device change");
                Vec::new()
            }
        };
        users.push(me.id);
        let event = BrokerEvent::Users {
            user_ids: users.into(),
            payload: event_payload(Event::DevicesChanged { user: me }),
        };
        if let Err(e) = self.inner.broker.publish(event).await {
            tracing::warn!(error = %e, "a device change was stored but not announced");
        }
    }

    pub(super) async fn register_device(&mut self, name: DeviceName, signature_key: Base64Bytes) -> Reply {
        let me = self.me()?.id;
        let devices = self.inner.store.list_devices(me).await.map_err(store_failed)?;
        let known_before = devices
            .iter()
            .any(|d| d.signature_key == signature_key.as_bytes());
        // Checked before, not in the store's transaction: two registrations racing past the
        // limit make one device more, which the limits on frames leave room for.
        if !known_before && devices.len() >= MAX_DEVICES_PER_USER {
            return Err(refuse(
                ErrorCode::TooManyDevices,
                format!("an account has at most {MAX_DEVICES_PER_USER} devices: remove one first"),
            ));
        }
        let record = self
            .inner
            .store
            .register_device(me, name.as_str(), signature_key.as_bytes(), now_ms())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => refuse(
                    ErrorCode::InvalidRequest,
                    "this signature key belongs to another account's device",
                ),
                e => store_failed(e),
            })?;
        self.device = Some(record.id);
        if !known_before {
            self.announce_devices_changed().await;
        }
        Ok(Response::Device {
            device: device_view(record)?,
        })
    }

    pub(super) async fn use_device(&mut self, device_id: DeviceId) -> Reply {
        let me = self.me()?.id;
        let record = self
            .inner
            .store
            .get_device(device_id)
            .await
            .map_err(store_failed)?
            .filter(|d| d.user.id == me)
            .ok_or_else(|| refuse(ErrorCode::NotFound, "no such device of yours"))?;
        if let Err(e) = self.inner.store.touch_device(device_id, now_ms()).await {
            tracing::warn!(error = %e, "cannot note when a device was last seen");
        }
        self.device = Some(device_id);
        Ok(Response::Device {
            device: device_view(record)?,
        })
    }

    pub(super) async fn list_devices(&mut self, user_id: UserId) -> Reply {
        let me = self.me()?.id;
        if user_id != me {
            let contacts = self.inner.store.co_member_ids(me).await.map_err(store_failed)?;
            if !contacts.contains(&user_id) {
                return Err(refuse(ErrorCode::NotFound, "no such user among your contacts"));
            }
        }
        let devices = self
            .inner
            .store
            .list_devices(user_id)
            .await
            .map_err(store_failed)?
            .into_iter()
            .map(device_view)
            .collect::<Result<_, _>>()?;
        Ok(Response::Devices { user_id, devices })
    }

    pub(super) async fn remove_device(&mut self, device_id: DeviceId) -> Reply {
        let me = self.me()?.id;
        let removed = self
            .inner
            .store
            .remove_device(me, device_id)
            .await
            .map_err(store_failed)?;
        if !removed {
            return Err(refuse(ErrorCode::NotFound, "no such device of yours"));
        }
        if self.device == Some(device_id) {
            self.device = None;
        }
        // The other members' devices see that it no longer belongs to a member and commit
        // its removal from every encrypted room.
        self.announce_devices_changed().await;
        Ok(Response::Ok)
    }

    pub(super) async fn upload_key_packages(
        &mut self,
        key_packages: Vec<Base64Bytes>,
        last_resort: Option<Base64Bytes>,
    ) -> Reply {
        self.me()?;
        let device = self.my_device()?;
        for package in key_packages.iter().chain(&last_resort) {
            mls_framing::check_key_package(package.as_bytes())
                .map_err(|e| refuse(ErrorCode::InvalidMls, e.to_string()))?;
        }
        let remaining = self
            .inner
            .store
            .add_key_packages(
                device,
                key_packages.into_iter().map(Base64Bytes::into_bytes).collect(),
                last_resort.map(Base64Bytes::into_bytes),
            )
            .await
            .map_err(store_failed)?;
        Ok(Response::KeyPackageCount { remaining })
    }

    pub(super) async fn claim_key_packages(&mut self, room_id: RoomId, device_ids: Vec<DeviceId>) -> Reply {
        let joined = self.member_room(room_id).await?;
        rules::encrypted_only(&joined.room)?;
        // Only devices of the room's members: a member cannot drain anyone else's pool.
        let members: Vec<DeviceRecord> = self
            .inner
            .store
            .room_devices(room_id)
            .await
            .map_err(store_failed)?;
        if let Some(stranger) = device_ids.iter().find(|d| !members.iter().any(|m| m.id == **d)) {
            return Err(refuse(
                ErrorCode::NotFound,
                format!("device {stranger} does not belong to a member of this room"),
            ));
        }
        let claimed = self
            .inner
            .store
            .claim_key_packages(&device_ids)
            .await
            .map_err(store_failed)?;
        let mut key_packages = Vec::with_capacity(claimed.len());
        for record in claimed {
            if record.remaining < KEY_PACKAGES_LOW
                && let Some(owner) = members.iter().find(|m| m.id == record.device_id)
            {
                let event = BrokerEvent::Users {
                    user_ids: vec![owner.user.id].into(),
                    payload: event_payload(Event::KeyPackagesLow {
                        device_id: record.device_id,
                        remaining: record.remaining,
                    }),
                };
                if let Err(e) = self.inner.broker.publish(event).await {
                    tracing::warn!(error = %e, "cannot tell a device its key packages run low");
                }
            }
            key_packages.push(ClaimedKeyPackage {
                device_id: record.device_id,
                key_package: Base64Bytes::new(record.bytes)
                    .map_err(|_| refuse(ErrorCode::Internal, "a stored key package cannot be read"))?,
            });
        }
        Ok(Response::KeyPackages {
            room_id,
            key_packages,
        })
    }

    pub(super) async fn room_devices(&mut self, room_id: RoomId) -> Reply {
        let joined = self.member_room(room_id).await?;
        rules::encrypted_only(&joined.room)?;
        let devices = self
            .inner
            .store
            .room_devices(room_id)
            .await
            .map_err(store_failed)?
            .into_iter()
            .map(device_view)
            .collect::<Result<_, _>>()?;
        Ok(Response::RoomDevices { room_id, devices })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_colon_separated_uppercase_sha256() {
        let fp = fingerprint(b"key");
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp.starts_with("2C:70:E1:2B"), "{fp}");
        assert_ne!(fingerprint(b"key"), fingerprint(b"kez"));
    }
}
