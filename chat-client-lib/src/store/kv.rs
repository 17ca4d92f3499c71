//! The namespaced key-value area: values of any kind (the end-to-end encryption state, an
//! application's own settings, a bot's position), each sealed for its place. Namespaces and
//! keys are stored as keyed hashes; the key is kept inside the sealed value, so listing a
//! namespace gives keys back. Namespaces starting with `chat.` belong to this library.

use rusqlite::{OptionalExtension, params};

use super::LocalStore;
use crate::error::StoreError;

/// The `(key, value)` pairs of one namespace, sorted by key.
pub type KeyValues = Vec<(Vec<u8>, Vec<u8>)>;

impl LocalStore {
    fn place(ns: &[u8], key: &[u8]) -> Vec<u8> {
        [b"kv\0".as_slice(), ns, b"\0", key].concat()
    }

    /// Sets `key` in `namespace` to `value`, replacing what was there.
    ///
    /// ```no_run
    /// # async fn demo(client: chat_client_lib::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let store = client.store().expect("logged in with a store directory");
    /// store.put("my-bot", b"greeting", b"hello")?;
    /// assert_eq!(store.get("my-bot", b"greeting")?.as_deref(), Some(&b"hello"[..]));
    /// # Ok(()) }
    /// ```
    pub fn put(&self, namespace: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let (ns, tag) = self.kv_tags(namespace, key);
        let plain = [&(key.len() as u32).to_le_bytes()[..], key, value].concat();
        let sealed = self.keys.seal(&Self::place(&ns, &tag), &plain);
        self.db()
            .execute(
                "INSERT INTO kv (ns, key, sealed) VALUES (?1, ?2, ?3)
                 ON CONFLICT (ns, key) DO UPDATE SET sealed = excluded.sealed",
                params![ns, tag, sealed],
            )
            .map_err(StoreError::db)?;
        Ok(())
    }

    /// The value of `key` in `namespace`, if set.
    pub fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (ns, tag) = self.kv_tags(namespace, key);
        let sealed: Option<Vec<u8>> = self
            .db()
            .query_row(
                "SELECT sealed FROM kv WHERE ns = ?1 AND key = ?2",
                params![ns, tag],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::db)?;
        let Some(sealed) = sealed else { return Ok(None) };
        let (stored_key, value) = self.open_kv(&ns, &tag, &sealed)?;
        if stored_key != key {
            return Err(StoreError::Tampered { area: "key-value" });
        }
        Ok(Some(value))
    }

    /// Removes `key` from `namespace`; returns whether it was there.
    pub fn delete(&self, namespace: &str, key: &[u8]) -> Result<bool, StoreError> {
        let (ns, tag) = self.kv_tags(namespace, key);
        let removed = self
            .db()
            .execute("DELETE FROM kv WHERE ns = ?1 AND key = ?2", params![ns, tag])
            .map_err(StoreError::db)?;
        Ok(removed > 0)
    }

    /// Every `(key, value)` of `namespace`, sorted by key. One tampered row fails the whole
    /// listing: a partial answer would look complete.
    pub fn list(&self, namespace: &str) -> Result<KeyValues, StoreError> {
        let ns = self.keys.tag(b"namespace", namespace.as_bytes());
        let rows: Vec<(Vec<u8>, Vec<u8>)> = {
            let db = self.db();
            let mut statement = db
                .prepare("SELECT key, sealed FROM kv WHERE ns = ?1")
                .map_err(StoreError::db)?;
            let rows = statement
                .query_map([&ns], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(StoreError::db)?;
            rows.collect::<Result<_, _>>().map_err(StoreError::db)?
        };
        let mut out = Vec::with_capacity(rows.len());
        for (tag, sealed) in rows {
            let (key, value) = self.open_kv(&ns, &tag, &sealed)?;
            if self.keys.tag(b"key", &key) != tag {
                return Err(StoreError::Tampered { area: "key-value" });
            }
            out.push((key, value));
        }
        out.sort();
        Ok(out)
    }

    /// Sets and removes several keys of `namespace` in one transaction: all of them land,
    /// or none (the end-to-end encryption state changes this way, one operation at a time).
    pub(crate) fn apply_batch(
        &self,
        namespace: &str,
        put: &[(Vec<u8>, Vec<u8>)],
        delete: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let ns = self.keys.tag(b"namespace", namespace.as_bytes());
        let mut db = self.db();
        let tx = db.transaction().map_err(StoreError::db)?;
        for (key, value) in put {
            let tag = self.keys.tag(b"key", key);
            let plain = [&(key.len() as u32).to_le_bytes()[..], key, value].concat();
            let sealed = self.keys.seal(&Self::place(&ns, &tag), &plain);
            tx.execute(
                "INSERT INTO kv (ns, key, sealed) VALUES (?1, ?2, ?3)
                 ON CONFLICT (ns, key) DO UPDATE SET sealed = excluded.sealed",
                params![ns, tag, sealed],
            )
            .map_err(StoreError::db)?;
        }
        for key in delete {
            let tag = self.keys.tag(b"key", key);
            tx.execute("DELETE FROM kv WHERE ns = ?1 AND key = ?2", params![ns, tag])
                .map_err(StoreError::db)?;
        }
        tx.commit().map_err(StoreError::db)
    }

    /// Removes every key of `namespace`, readable or not.
    pub(crate) fn clear_namespace(&self, namespace: &str) -> Result<(), StoreError> {
        let ns = self.keys.tag(b"namespace", namespace.as_bytes());
        self.db()
            .execute("DELETE FROM kv WHERE ns = ?1", params![ns])
            .map_err(StoreError::db)?;
        Ok(())
    }

    fn kv_tags(&self, namespace: &str, key: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (
            self.keys.tag(b"namespace", namespace.as_bytes()),
            self.keys.tag(b"key", key),
        )
    }

    fn open_kv(&self, ns: &[u8], tag: &[u8], sealed: &[u8]) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        let tampered = || StoreError::Tampered { area: "key-value" };
        let plain = self
            .keys
            .open(&Self::place(ns, tag), sealed)
            .ok_or_else(tampered)?;
        let (len, rest) = plain.split_at_checked(4).ok_or_else(tampered)?;
        let len = u32::from_le_bytes(len.try_into().map_err(|_| tampered())?) as usize;
        let (key, value) = rest.split_at_checked(len).ok_or_else(tampered)?;
        Ok((key.to_vec(), value.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::fresh;
    use crate::error::StoreError;

    #[test]
    fn put_get_delete_and_list_by_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh(dir.path());
        store.put("mls", b"group/1", b"epoch 3").unwrap();
        store.put("mls", b"group/2", b"epoch 9").unwrap();
        store.put("bot", b"group/1", b"elsewhere").unwrap();
        store.put("mls", b"group/1", b"epoch 4").unwrap();
        assert_eq!(store.get("mls", b"group/1").unwrap().unwrap(), b"epoch 4");
        assert_eq!(store.get("mls", b"nothing").unwrap(), None);
        assert_eq!(
            store.list("mls").unwrap(),
            [
                (b"group/1".to_vec(), b"epoch 4".to_vec()),
                (b"group/2".to_vec(), b"epoch 9".to_vec())
            ]
        );
        assert!(store.delete("mls", b"group/1").unwrap());
        assert!(!store.delete("mls", b"group/1").unwrap());
        assert_eq!(store.list("mls").unwrap().len(), 1);
        assert_eq!(store.list("bot").unwrap().len(), 1);
        assert!(store.list("empty").unwrap().is_empty());

        let raw = std::fs::read(store.path()).unwrap();
        for secret in [&b"group/2"[..], b"epoch 9", b"mls"] {
            assert!(
                !raw.windows(secret.len()).any(|w| w == secret),
                "visible in the file"
            );
        }
    }

    #[test]
    fn a_changed_or_swapped_value_is_reported_never_returned() {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh(dir.path());
        store.put("app", b"a", b"value of a").unwrap();
        store.put("app", b"b", b"value of b").unwrap();
        // Swap the sealed values of the two rows, as someone editing the file could.
        let rows: Vec<(Vec<u8>, Vec<u8>)> = {
            let db = store.db();
            let mut statement = db.prepare("SELECT key, sealed FROM kv").unwrap();
            statement
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        for (i, (key, _)) in rows.iter().enumerate() {
            let other = &rows[1 - i].1;
            store
                .db()
                .execute(
                    "UPDATE kv SET sealed = ?1 WHERE key = ?2",
                    rusqlite::params![other, key],
                )
                .unwrap();
        }
        assert_eq!(
            store.get("app", b"a").unwrap_err(),
            StoreError::Tampered { area: "key-value" }
        );
        assert!(store.list("app").is_err());
        store.put("app", b"a", b"fresh").unwrap();
        super::super::tests::flip_sealed(&store, "kv", "1");
        assert!(matches!(store.get("app", b"a"), Err(StoreError::Tampered { .. })));
    }
}
