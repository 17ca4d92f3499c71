//! Contacts this user verified by comparing safety numbers, kept between runs in a small
//! JSON file next to the client's local store. Each entry holds the contact's devices as
//! they were when verified: when the server later lists other devices for that contact,
//! the chat shows a warning until the number is compared again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chat_proto::{Device, DeviceId, UserId, UserInfo};
use serde::{Deserialize, Serialize};

/// One device of a verified contact, as it was when verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownDevice {
    /// Its id.
    pub id: u64,
    /// Its fingerprint (what people compare).
    pub fingerprint: String,
}

/// A verified contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedContact {
    /// Their username when verified.
    pub username: String,
    /// Their devices when verified.
    pub devices: Vec<KnownDevice>,
}

/// The verified contacts of one account on one computer.
#[derive(Clone, Debug, Default)]
pub struct Verified {
    path: Option<PathBuf>,
    contacts: BTreeMap<u64, VerifiedContact>,
}

impl Verified {
    /// The contacts `me` verified, read from `dir` (empty when nothing was saved or the
    /// file cannot be read: verification is then simply asked for again).
    pub fn load(dir: &Path, me: &UserInfo) -> Verified {
        let path = dir.join(format!("verified-{}-{}.json", me.username, me.id));
        let contacts = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Verified {
            path: Some(path),
            contacts,
        }
    }

    /// Whether `user` is verified (whatever their devices are now).
    pub fn is_verified(&self, user: UserId) -> bool {
        self.contacts.contains_key(&user.get())
    }

    /// Whether `user` is verified and `devices` are exactly the devices verified.
    pub fn matches(&self, user: UserId, devices: &[Device]) -> bool {
        self.contacts
            .get(&user.get())
            .is_some_and(|c| fingerprints(&c.devices) == fingerprints(&known(devices)))
    }

    /// Whether `device` was among the devices of a verified `user`; `None` when `user` is
    /// not verified.
    pub fn knows_device(&self, user: UserId, device: DeviceId) -> Option<bool> {
        self.contacts
            .get(&user.get())
            .map(|c| c.devices.iter().any(|d| d.id == device.get()))
    }

    /// Marks `user` verified with their current `devices`, and saves.
    pub fn verify(&mut self, user: &UserInfo, devices: &[Device]) -> std::io::Result<()> {
        self.contacts.insert(
            user.id.get(),
            VerifiedContact {
                username: user.username.to_string(),
                devices: known(devices),
            },
        );
        self.save()
    }

    /// Takes the verification of `user` back, and saves.
    pub fn unverify(&mut self, user: UserId) -> std::io::Result<()> {
        self.contacts.remove(&user.get());
        self.save()
    }

    fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_vec_pretty(&self.contacts).map_err(std::io::Error::other)?;
        // Written aside and renamed, so that a crash never leaves half a file.
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, path)
    }
}

fn known(devices: &[Device]) -> Vec<KnownDevice> {
    devices
        .iter()
        .map(|d| KnownDevice {
            id: d.id.get(),
            fingerprint: d.fingerprint.clone(),
        })
        .collect()
}

fn fingerprints(devices: &[KnownDevice]) -> Vec<&str> {
    let mut prints: Vec<&str> = devices.iter().map(|d| d.fingerprint.as_str()).collect();
    prints.sort_unstable();
    prints.dedup();
    prints
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::{Base64Bytes, DeviceName, Username};

    fn device(id: u64, print: &str) -> Device {
        Device {
            id: DeviceId::new(id).unwrap(),
            user: user(2),
            name: DeviceName::parse("laptop").unwrap(),
            signature_key: Base64Bytes::new(vec![id as u8; 32]).unwrap(),
            fingerprint: print.to_owned(),
            created_at: 0,
            last_seen_at: 0,
        }
    }

    fn user(id: u64) -> UserInfo {
        UserInfo {
            id: UserId::new(id).unwrap(),
            username: Username::parse(if id == 1 { "alice" } else { "bob" }).unwrap(),
        }
    }

    #[test]
    fn a_verified_contact_is_remembered_and_a_new_device_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let (alice, bob) = (user(1), user(2));
        let mut verified = Verified::load(dir.path(), &alice);
        assert!(!verified.is_verified(bob.id));
        verified.verify(&bob, &[device(7, "AA")]).unwrap();

        let again = Verified::load(dir.path(), &alice);
        assert!(again.is_verified(bob.id));
        assert!(again.matches(bob.id, &[device(7, "AA")]));
        assert!(!again.matches(bob.id, &[device(7, "AA"), device(8, "BB")]));
        assert_eq!(again.knows_device(bob.id, DeviceId::new(8).unwrap()), Some(false));
        assert_eq!(again.knows_device(alice.id, DeviceId::new(8).unwrap()), None);
    }
}
