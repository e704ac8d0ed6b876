//! The disk store: cached sentences in one redb file that survives restarts,
//! bounded in bytes, least recently used out first.
//!
//! Two tables: the values (the checked bytes every store keeps) and, per
//! key, when it expires, when it was last used and its size. Expiry is wall
//! time (it must hold across restarts). The database's calls block, so each
//! runs on tokio's blocking pool; a failed call is logged and read as a miss
//! (or as not stored), never an error of the sentence.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use voxwire_core::{Result, TtsError};

use super::store::{PhraseStore, StoreUsage};
use super::PhraseKey;

const VALUES: TableDefinition<&str, &[u8]> = TableDefinition::new("phrases");
/// Per key: (expires, last used) in Unix milliseconds, and the value's size.
const META: TableDefinition<&str, (u64, u64, u64)> = TableDefinition::new("phrase_meta");

/// A database error, boxed (redb's is large) and made from any of redb's.
#[derive(Debug)]
struct DbError(Box<redb::Error>);

impl<E: Into<redb::Error>> From<E> for DbError {
    fn from(error: E) -> Self {
        Self(Box::new(error.into()))
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

type DbResult<T> = std::result::Result<T, DbError>;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Cached sentences in a redb file, at most `max_bytes` of them.
pub struct DiskStore {
    db: Arc<Database>,
    path: PathBuf,
    max_bytes: u64,
    /// Bytes held (the values' sizes), kept beside the file's own count.
    held: Arc<Mutex<u64>>,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("path", &self.path)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

fn failed(path: &Path, what: &str, error: impl std::fmt::Display) -> TtsError {
    TtsError::config(format!(
        "the phrase cache at {} cannot be {what}: {error}",
        path.display()
    ))
    .with_hint("another voxwire process may hold it: give each its own [cache] path, or use store = \"memory\"")
}

impl DiskStore {
    /// Where the CLI and the relay keep the cache unless `[cache] path` says:
    /// `voxwire/phrases.redb` in the user's cache directory.
    pub fn default_path() -> Option<PathBuf> {
        Some(dirs::cache_dir()?.join("voxwire").join("phrases.redb"))
    }

    /// Opens (or creates) the store at `path`, holding at most `max_bytes`.
    /// One process at a time may hold a file: a second gets a `Config` error.
    pub fn open(path: impl Into<PathBuf>, max_bytes: u64) -> Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| failed(&path, "created", e))?;
        }
        let db = Database::create(&path).map_err(|e| failed(&path, "opened", e))?;
        let held = (|| -> DbResult<u64> {
            let tx = db.begin_write()?;
            let held = {
                tx.open_table(VALUES)?;
                let meta = tx.open_table(META)?;
                let mut held = 0u64;
                for row in meta.iter()? {
                    let (_, info) = row?;
                    held += info.value().2;
                }
                held
            };
            tx.commit()?;
            Ok(held)
        })()
        .map_err(|e| failed(&path, "read", e))?;
        let store = Self {
            db: Arc::new(db),
            path,
            max_bytes,
            held: Arc::new(Mutex::new(held)),
        };
        // A smaller bound than the file was written with takes effect now.
        store
            .run_trim()
            .map_err(|e| failed(&store.path, "trimmed", e))?;
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn run_trim(&self) -> DbResult<()> {
        let tx = self.db.begin_write()?;
        {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            trim(&tx, &mut held, self.max_bytes)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs `work` on the blocking pool with the database and the byte count.
    async fn blocking<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce(&Database, &Mutex<u64>) -> DbResult<T> + Send + 'static,
    ) -> Option<T> {
        let (db, held) = (self.db.clone(), self.held.clone());
        match tokio::task::spawn_blocking(move || work(&db, &held)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                tracing::warn!(path = %self.path.display(), error = %e, "the phrase cache could not {what}");
                None
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "the phrase cache's {what} did not finish");
                None
            }
        }
    }
}

/// Removes least recently used values until at most `max_bytes` are held.
fn trim(tx: &redb::WriteTransaction, held: &mut u64, max_bytes: u64) -> DbResult<()> {
    if *held <= max_bytes {
        return Ok(());
    }
    let mut meta = tx.open_table(META)?;
    let mut values = tx.open_table(VALUES)?;
    let mut rows: Vec<(String, u64, u64)> = Vec::new();
    for row in meta.iter()? {
        let (key, info) = row?;
        let (_, used, size) = info.value();
        rows.push((key.value().to_string(), used, size));
    }
    rows.sort_by_key(|&(_, used, _)| used);
    for (key, _, size) in rows {
        if *held <= max_bytes {
            break;
        }
        meta.remove(key.as_str())?;
        values.remove(key.as_str())?;
        *held = held.saturating_sub(size);
    }
    Ok(())
}

/// Removes `key`'s value and metadata, if any.
fn remove(tx: &redb::WriteTransaction, held: &mut u64, key: &str) -> DbResult<()> {
    let mut meta = tx.open_table(META)?;
    let old = meta.remove(key)?.map(|info| info.value().2);
    if let Some(size) = old {
        *held = held.saturating_sub(size);
    }
    tx.open_table(VALUES)?.remove(key)?;
    Ok(())
}

#[voxwire_core::async_trait]
impl PhraseStore for DiskStore {
    async fn get(&self, key: &PhraseKey) -> Option<Bytes> {
        let key = key.as_str().to_string();
        self.blocking("read", move |db, held| {
            let now = now_ms();
            let found = {
                let tx = db.begin_read()?;
                let meta = tx.open_table(META)?;
                let Some(info) = meta.get(key.as_str())?.map(|i| i.value()) else {
                    return Ok(None);
                };
                if info.0 <= now {
                    None
                } else {
                    let values = tx.open_table(VALUES)?;
                    let value = values.get(key.as_str())?;
                    value.map(|v| Bytes::copy_from_slice(v.value()))
                }
            };
            let mut tx = db.begin_write()?;
            {
                let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
                match &found {
                    // Expired, or its value is missing: gone.
                    None => remove(&tx, &mut held, &key)?,
                    // Its use is noted; losing that note in a crash costs nothing.
                    Some(_) => {
                        tx.set_durability(Durability::None);
                        let mut meta = tx.open_table(META)?;
                        let info = meta.get(key.as_str())?.map(|i| i.value());
                        if let Some((expires, _, size)) = info {
                            meta.insert(key.as_str(), (expires, now, size))?;
                        }
                    }
                }
            }
            tx.commit()?;
            Ok(found)
        })
        .await
        .flatten()
    }

    async fn put(&self, key: &PhraseKey, value: Bytes, ttl: Duration) {
        let size = value.len() as u64;
        if size > self.max_bytes {
            return;
        }
        let key = key.as_str().to_string();
        let max_bytes = self.max_bytes;
        self.blocking("store", move |db, held| {
            let now = now_ms();
            let expires = now.saturating_add(ttl.as_millis() as u64);
            let tx = db.begin_write()?;
            {
                let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
                remove(&tx, &mut held, &key)?;
                tx.open_table(VALUES)?
                    .insert(key.as_str(), value.as_ref())?;
                tx.open_table(META)?
                    .insert(key.as_str(), (expires, now, size))?;
                *held += size;
                trim(&tx, &mut held, max_bytes)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await;
    }

    async fn clear(&self) -> u64 {
        self.blocking("clear", |db, held| {
            let tx = db.begin_write()?;
            let n = {
                let n = tx.open_table(META)?.len()?;
                tx.delete_table(META)?;
                tx.delete_table(VALUES)?;
                tx.open_table(META)?;
                tx.open_table(VALUES)?;
                *held.lock().unwrap_or_else(|p| p.into_inner()) = 0;
                n
            };
            tx.commit()?;
            Ok(n)
        })
        .await
        .unwrap_or(0)
    }

    async fn usage(&self) -> StoreUsage {
        self.blocking("count", |db, held| {
            let tx = db.begin_read()?;
            let entries = tx.open_table(META)?.len()?;
            let bytes = *held.lock().unwrap_or_else(|p| p.into_inner());
            Ok(StoreUsage { entries, bytes })
        })
        .await
        .unwrap_or_default()
    }

    fn kind(&self) -> &'static str {
        "disk"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::check::{self, key};

    const DAY: Duration = Duration::from_secs(86_400);

    #[tokio::test]
    async fn it_keeps_what_every_store_keeps() {
        let dir = tempfile::tempdir().unwrap();
        check::least_recently_used_go_first(
            &DiskStore::open(dir.path().join("a.redb"), 300).unwrap(),
        )
        .await;
        check::expired_values_are_misses(
            &DiskStore::open(dir.path().join("b.redb"), 1_000).unwrap(),
        )
        .await;
    }

    #[tokio::test]
    async fn values_survive_a_restart_and_a_smaller_bound_trims_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("phrases.redb");
        {
            let store = DiskStore::open(&path, 300).unwrap();
            for name in ["a", "b", "c"] {
                store
                    .put(&key(name), Bytes::from(vec![7u8; 100]), DAY)
                    .await;
                // Last-used times are milliseconds apart.
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }
        let store = DiskStore::open(&path, 300).unwrap();
        for kept in ["a", "b", "c"] {
            assert_eq!(
                store.get(&key(kept)).await.as_deref(),
                Some(&[7u8; 100][..]),
                "{kept} survived the restart"
            );
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        assert_eq!(
            store.usage().await,
            StoreUsage {
                entries: 3,
                bytes: 300
            }
        );
        drop(store);
        let smaller = DiskStore::open(&path, 150).unwrap();
        assert_eq!(
            smaller.usage().await.entries,
            1,
            "a smaller bound trims at once"
        );
        assert!(
            smaller.get(&key("c")).await.is_some(),
            "the most recently used stays"
        );
    }

    #[tokio::test]
    async fn a_second_process_on_the_same_file_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.redb");
        let _first = DiskStore::open(&path, 1_000).unwrap();
        let second = DiskStore::open(&path, 1_000).unwrap_err();
        assert!(second.to_string().contains("cannot be opened"), "{second}");
    }
}
