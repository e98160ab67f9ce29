//! The embedded durable [`Store`], on SQLite in the data directory.

use crate::{BackendError, RoomRecord, Store};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use throng_protocol::Message;
use throng_room::moderation::{ListKind, Sanction};
use throng_room::RoomSettings;

pub struct SqliteStore {
    pool: SqlitePool,
}

fn unavailable(e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore, BackendError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        // A handful of connections: SQLite serialises writers anyway, and this store sees
        // management traffic, reliable messages and batched recording writes (one
        // transaction per batch), never one write per ordinary message.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(unavailable)?;
        Ok(SqliteStore { pool })
    }

    /// An in-memory database, for tests.
    pub async fn in_memory() -> Result<SqliteStore, BackendError> {
        let options = SqliteConnectOptions::new().in_memory(true);
        // One connection: each in-memory connection would otherwise be its own database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(unavailable)?;
        Ok(SqliteStore { pool })
    }
}

fn settings_json(settings: &RoomSettings) -> String {
    serde_json::to_string(settings).expect("settings serialise")
}

fn record_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<RoomRecord, BackendError> {
    let id: String = row.try_get("id").map_err(unavailable)?;
    let settings: String = row.try_get("settings").map_err(unavailable)?;
    let created_at: i64 = row.try_get("created_at").map_err(unavailable)?;
    let settings = serde_json::from_str(&settings)
        .map_err(|e| BackendError::Corrupt(format!("settings of room {id}: {e}")))?;
    Ok(RoomRecord {
        id,
        settings,
        created_at: created_at as u64,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_room(&self, room: &RoomRecord) -> Result<bool, BackendError> {
        let result = sqlx::query("INSERT INTO rooms (id, settings, created_at) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING")
            .bind(&room.id)
            .bind(settings_json(&room.settings))
            .bind(room.created_at as i64)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn get_room(&self, id: &str) -> Result<Option<RoomRecord>, BackendError> {
        let row = sqlx::query("SELECT id, settings, created_at FROM rooms WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(record_from_row).transpose()
    }

    async fn update_room(&self, id: &str, settings: &RoomSettings) -> Result<bool, BackendError> {
        let result = sqlx::query("UPDATE rooms SET settings = ? WHERE id = ?")
            .bind(settings_json(settings))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn delete_room(&self, id: &str) -> Result<bool, BackendError> {
        let result = sqlx::query("DELETE FROM rooms WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        for table in ["reliable_messages", "recorded_messages"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE room = ?"))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
        }
        Ok(result.rows_affected() == 1)
    }

    async fn room_count(&self) -> Result<u64, BackendError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rooms")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(count as u64)
    }

    async fn get_setting(&self, key: &str) -> Result<Option<serde_json::Value>, BackendError> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        value
            .map(|v| {
                serde_json::from_str(&v)
                    .map_err(|e| BackendError::Corrupt(format!("setting {key}: {e}")))
            })
            .transpose()
    }

    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), BackendError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value.to_string())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_setting(&self, key: &str) -> Result<bool, BackendError> {
        let result = sqlx::query("DELETE FROM settings WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn put_sanction(&self, sanction: &Sanction) -> Result<(), BackendError> {
        sqlx::query(
            "INSERT INTO sanctions (kind, room, user_id, until, reason, by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT(kind, room, user_id) DO UPDATE SET until = excluded.until, reason = excluded.reason, \
             by = excluded.by, created_at = excluded.created_at",
        )
        .bind(sanction.kind.as_str())
        .bind(sanction.room.as_deref().unwrap_or(""))
        .bind(&sanction.user)
        .bind(sanction.until.map(|u| u as i64))
        .bind(&sanction.reason)
        .bind(&sanction.by)
        .bind(sanction.created_at as i64)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_sanction(
        &self,
        kind: ListKind,
        room: Option<&str>,
        user: &str,
    ) -> Result<bool, BackendError> {
        let result =
            sqlx::query("DELETE FROM sanctions WHERE kind = ? AND room = ? AND user_id = ?")
                .bind(kind.as_str())
                .bind(room.unwrap_or(""))
                .bind(user)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn all_sanctions(&self) -> Result<Vec<Sanction>, BackendError> {
        let rows =
            sqlx::query("SELECT kind, room, user_id, until, reason, by, created_at FROM sanctions")
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind").map_err(unavailable)?;
                let room: String = row.try_get("room").map_err(unavailable)?;
                let until: Option<i64> = row.try_get("until").map_err(unavailable)?;
                let created_at: i64 = row.try_get("created_at").map_err(unavailable)?;
                Ok(Sanction {
                    kind: ListKind::parse(&kind).ok_or_else(|| {
                        BackendError::Corrupt(format!("unknown sanction kind {kind:?}"))
                    })?,
                    room: (!room.is_empty()).then_some(room),
                    user: row.try_get("user_id").map_err(unavailable)?,
                    until: until.map(|u| u as u64),
                    reason: row.try_get("reason").map_err(unavailable)?,
                    by: row.try_get("by").map_err(unavailable)?,
                    created_at: created_at as u64,
                })
            })
            .collect()
    }

    async fn list_rooms(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RoomRecord>, BackendError> {
        let rows = sqlx::query(
            "SELECT id, settings, created_at FROM rooms WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(record_from_row).collect()
    }

    async fn reliable_put(
        &self,
        room: &str,
        message: &Message,
        expires_at: u64,
    ) -> Result<(), BackendError> {
        let id = message
            .id
            .as_deref()
            .ok_or_else(|| BackendError::Corrupt("a reliable message needs an id".into()))?;
        let json = serde_json::to_string(message).expect("messages serialise");
        sqlx::query(
            "INSERT INTO reliable_messages (room, id, seq, expires_at, message) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT(room, id) DO UPDATE SET seq = excluded.seq, expires_at = excluded.expires_at, \
             message = excluded.message",
        )
        .bind(room)
        .bind(id)
        .bind(message.seq as i64)
        .bind(expires_at as i64)
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn reliable_find(
        &self,
        room: &str,
        id: &str,
        now: u64,
    ) -> Result<Option<Message>, BackendError> {
        let json: Option<String> = sqlx::query_scalar(
            "SELECT message FROM reliable_messages WHERE room = ? AND id = ? AND expires_at > ?",
        )
        .bind(room)
        .bind(id)
        .bind(now as i64)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        json.map(|json| parse_message(&json)).transpose()
    }

    async fn reliable_count(&self, room: &str, now: u64) -> Result<u64, BackendError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM reliable_messages WHERE room = ? AND expires_at > ?",
        )
        .bind(room)
        .bind(now as i64)
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(count as u64)
    }

    async fn reliable_pending(
        &self,
        room: &str,
        now: u64,
    ) -> Result<Vec<(Message, u64)>, BackendError> {
        let rows = sqlx::query(
            "SELECT message, expires_at FROM reliable_messages WHERE room = ? AND expires_at > ? ORDER BY seq",
        )
        .bind(room)
        .bind(now as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let json: String = row.try_get("message").map_err(unavailable)?;
                let expires_at: i64 = row.try_get("expires_at").map_err(unavailable)?;
                Ok((parse_message(&json)?, expires_at as u64))
            })
            .collect()
    }

    async fn reliable_prune(&self, now: u64) -> Result<u64, BackendError> {
        let result = sqlx::query("DELETE FROM reliable_messages WHERE expires_at <= ?")
            .bind(now as i64)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }

    async fn record_messages(
        &self,
        room_messages: &[(String, Message)],
    ) -> Result<(), BackendError> {
        if room_messages.is_empty() {
            return Ok(());
        }
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        for (room, message) in room_messages {
            let json = serde_json::to_string(message).expect("messages serialise");
            sqlx::query(
                "INSERT OR IGNORE INTO recorded_messages (room, seq, ts, message) \
                 SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM rooms WHERE id = ?)",
            )
            .bind(room)
            .bind(message.seq as i64)
            .bind(message.ts as i64)
            .bind(json)
            .bind(room)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        }
        transaction.commit().await.map_err(unavailable)?;
        Ok(())
    }

    async fn recorded(
        &self,
        room: &str,
        from_ms: u64,
        to_ms: u64,
        after: Option<(u64, u64)>,
        limit: u32,
    ) -> Result<Vec<Message>, BackendError> {
        // Without a position, start before the first seq at `from_ms` (seqs start at 1).
        let (after_ts, after_seq) = after.unwrap_or((from_ms, 0));
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT message FROM recorded_messages \
             WHERE room = ? AND ts >= ? AND ts <= ? AND (ts > ? OR (ts = ? AND seq > ?)) \
             ORDER BY ts, seq LIMIT ?",
        )
        .bind(room)
        .bind(clamp_i64(from_ms))
        .bind(clamp_i64(to_ms))
        .bind(clamp_i64(after_ts))
        .bind(clamp_i64(after_ts))
        .bind(clamp_i64(after_seq))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(|json| parse_message(json)).collect()
    }

    async fn prune_recorded(&self, room: &str, before_ms: u64) -> Result<u64, BackendError> {
        let result = sqlx::query("DELETE FROM recorded_messages WHERE room = ? AND ts < ?")
            .bind(room)
            .bind(clamp_i64(before_ms))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}

/// A bound given by a caller (for example from a query string) as an SQLite integer:
/// values past `i64::MAX` mean "no bound" and must not wrap to negative numbers.
fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn parse_message(json: &str) -> Result<Message, BackendError> {
    serde_json::from_str(json).map_err(|e| BackendError::Corrupt(format!("stored message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract;
    use std::sync::Arc;

    #[tokio::test]
    async fn sqlite_store_passes_the_contract() {
        contract::store(Arc::new(SqliteStore::in_memory().await.unwrap())).await;
        contract::store_sanctions(Arc::new(SqliteStore::in_memory().await.unwrap())).await;
        contract::store_settings(Arc::new(SqliteStore::in_memory().await.unwrap())).await;
        contract::store_reliable(Arc::new(SqliteStore::in_memory().await.unwrap())).await;
        contract::store_recording(Arc::new(SqliteStore::in_memory().await.unwrap())).await;
    }

    #[tokio::test]
    async fn rooms_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("throng.db");
        let record = RoomRecord {
            id: "kept".into(),
            settings: RoomSettings::default(),
            created_at: 1,
        };
        SqliteStore::open(&path)
            .await
            .unwrap()
            .create_room(&record)
            .await
            .unwrap();
        let reopened = SqliteStore::open(&path).await.unwrap();
        assert_eq!(reopened.get_room("kept").await.unwrap(), Some(record));
    }
}
