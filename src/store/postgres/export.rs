//! The export: messages read from one snapshot (what was committed when
//! it began), room by room in pages by id, and merged across rooms by
//! time exactly as sled's export merges them, so both stores export the
//! same history in the same order. Memory holds one page per room.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::backup::{each_row, hidden_from, messages_page, room_of, PAGE, SNAPSHOT};
use super::session::Session;
use super::{db_id, PgStore};
use crate::model::{Message, Room, RoomId, Timestamp};
use crate::store::{ExportFile, ExportLine, StoreError};

/// A room's place in the export.
struct Cursor {
    room: Room,
    buf: VecDeque<Message>,
    /// The last id read (-1: none yet; stored ids are never negative).
    last: i64,
    done: bool,
}

impl Cursor {
    /// The room's next message at or after `since`, reading a page when
    /// needed.
    fn peek(
        &mut self,
        s: &Session,
        hidden: i64,
        since: Option<Timestamp>,
    ) -> Result<Option<&Message>, StoreError> {
        loop {
            while self
                .buf
                .front()
                .is_some_and(|m| since.is_some_and(|t| m.timestamp < t))
            {
                self.buf.pop_front();
            }
            if !self.buf.is_empty() || self.done {
                return Ok(self.buf.front());
            }
            let page = messages_page(s, self.room.id, self.last, hidden)?;
            self.done = (page.len() as i64) < PAGE;
            if let Some(m) = page.last() {
                self.last = db_id(m.id.0);
            }
            self.buf.extend(page);
        }
    }
}

impl PgStore {
    pub(super) fn export_from(
        &self,
        room: Option<RoomId>,
        since: Option<Timestamp>,
        each: &mut dyn FnMut(&ExportLine<'_>) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let s = self.session(SNAPSHOT)?;
        let hidden = hidden_from(&s)?;
        let mut rooms = Vec::new();
        match room {
            Some(id) => {
                let rows = s.query(
                    "SELECT id, name, description, private, kind, owner_id, created_at
                     FROM rooms WHERE id = $1",
                    vec![Box::new(db_id(id.0))],
                )?;
                for row in &rows {
                    rooms.push(room_of(row)?);
                }
            }
            None => each_row(
                &s,
                "SELECT id, name, description, private, kind, owner_id, created_at
                 FROM rooms WHERE $1::BIGINT IS NULL OR id > $1 ORDER BY id LIMIT $2",
                |row| row.try_get("id"),
                |row| {
                    rooms.push(room_of(row)?);
                    Ok(())
                },
            )?,
        }
        let mut cursors: Vec<Cursor> = rooms
            .into_iter()
            .map(|room| Cursor {
                room,
                buf: VecDeque::new(),
                last: -1,
                done: false,
            })
            .collect();
        let mut heap = BinaryHeap::new();
        for (i, c) in cursors.iter_mut().enumerate() {
            if let Some(m) = c.peek(&s, hidden, since)? {
                heap.push(Reverse((m.timestamp, m.room_id, m.id, i)));
            }
        }
        let mut n = 0;
        while let Some(Reverse((_, _, _, i))) = heap.pop() {
            let c = &mut cursors[i];
            let Some(m) = c.buf.pop_front() else { continue };
            each(&ExportLine {
                id: m.id,
                room_id: m.room_id,
                room: &c.room.name,
                user_id: m.user_id,
                user: &m.user,
                message: &m.message,
                timestamp: m.timestamp,
                attachments: m
                    .attachments
                    .iter()
                    .map(|a| ExportFile {
                        name: &a.name,
                        size: a.size,
                        content_type: &a.content_type,
                    })
                    .collect(),
            })?;
            n += 1;
            if let Some(next) = c.peek(&s, hidden, since)? {
                heap.push(Reverse((next.timestamp, next.room_id, next.id, i)));
            }
        }
        Ok(n)
    }
}
