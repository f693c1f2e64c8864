//! Files carried by the messages of an append: checked and attached in its transaction.

use std::collections::{HashMap, HashSet};

use securechat_proto::ids::UserId;
use securechat_store::model::{FileId, NewMessage};
use securechat_store::StoreError;
use sqlx::PgConnection;

use crate::{map_err, rows};

/// A file's record as the append found it (locked).
struct Found {
    uploader: UserId,
    recipient: UserId,
    attached: bool,
}

/// The files referenced by one batch, locked until its transaction ends, and the ones that
/// earlier messages of the batch claimed.
pub(crate) struct Attachments {
    found: HashMap<FileId, Found>,
    claimed: HashSet<FileId>,
    /// (file, index of the claiming message among the batch's new messages).
    attach: Vec<(FileId, usize)>,
}

impl Attachments {
    /// Locks every file the batch references (in id order). A file being attached here
    /// cannot be taken as unreferenced meanwhile, nor attached by another batch.
    pub(crate) async fn lock(
        conn: &mut PgConnection,
        batch: &[NewMessage],
    ) -> Result<Self, StoreError> {
        let mut this = Self {
            found: HashMap::new(),
            claimed: HashSet::new(),
            attach: Vec::new(),
        };
        let ids: Vec<&[u8]> = batch
            .iter()
            .flat_map(|m| m.files.iter().map(|f| &f[..]))
            .collect();
        if ids.is_empty() {
            return Ok(this);
        }
        let found = sqlx::query(
            "SELECT id, uploader, recipient, message IS NOT NULL AS attached FROM files \
             WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
        for row in &found {
            this.found.insert(
                rows::fixed(row, "id")?,
                Found {
                    uploader: rows::user_id(row, "uploader")?,
                    recipient: rows::user_id(row, "recipient")?,
                    attached: rows::get(row, "attached")?,
                },
            );
        }
        Ok(this)
    }

    /// Claims `m`'s files for the batch's new message number `index`, when every one was
    /// uploaded by its sender for its recipient and is carried by no message yet (nor by an
    /// earlier message of the batch); otherwise claims nothing and answers false.
    pub(crate) fn claim(&mut self, m: &NewMessage, index: usize) -> bool {
        let usable = m.files.iter().all(|id| {
            self.found.get(id).is_some_and(|f| {
                f.uploader == m.sender
                    && f.recipient == m.recipient
                    && !f.attached
                    && !self.claimed.contains(id)
            })
        });
        if usable {
            for id in &m.files {
                if self.claimed.insert(*id) {
                    self.attach.push((*id, index));
                }
            }
        }
        usable
    }

    /// Points the claimed files at their messages, given the new messages' ids.
    pub(crate) async fn save(self, conn: &mut PgConnection, ids: &[i64]) -> Result<(), StoreError> {
        if self.attach.is_empty() {
            return Ok(());
        }
        let mut files: Vec<&[u8]> = Vec::with_capacity(self.attach.len());
        let mut messages = Vec::with_capacity(self.attach.len());
        for (file, index) in &self.attach {
            let id = ids
                .get(*index)
                .ok_or_else(|| StoreError::Other("a claimed file has no message".into()))?;
            files.push(&file[..]);
            messages.push(*id);
        }
        sqlx::query(
            "UPDATE files SET message = v.message \
             FROM UNNEST($1::bytea[], $2::bigint[]) AS v(id, message) WHERE files.id = v.id",
        )
        .bind(&files)
        .bind(&messages)
        .execute(conn)
        .await
        .map_err(map_err)?;
        Ok(())
    }
}
