//! Writing a segment term by term: the postings go to the file as they
//! come, the dictionary (a few dozen bytes per term) waits in memory for
//! the end. The file is written under a temporary name, synced and
//! renamed, so a segment is whole or absent.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::super::postings::{self, put_varint, Posting};
use super::{io, SegmentError, BLOCK, END, FOOTER, MAGIC};

pub(super) struct Writer {
    path: PathBuf,
    tmp: PathBuf,
    file: BufWriter<File>,
    rooms: Vec<u64>,
    written: u64,
    dict: Vec<u8>,
    sparse: Vec<u8>,
    terms: usize,
    scratch: Vec<u8>,
}

impl Writer {
    /// Starts the segment `path`; `rooms` (sorted) are the rooms its
    /// lists may name.
    pub fn create(path: &Path, rooms: Vec<u64>) -> Result<Writer, SegmentError> {
        let tmp = path.with_extension("tmp");
        let mut file = BufWriter::new(File::create(&tmp).map_err(io(&tmp))?);
        file.write_all(MAGIC).map_err(io(&tmp))?;
        Ok(Writer {
            path: path.to_owned(),
            tmp,
            file,
            rooms,
            written: 0,
            dict: Vec::new(),
            sparse: Vec::new(),
            terms: 0,
            scratch: Vec::new(),
        })
    }

    /// Adds a term (terms in ascending order) and its lists.
    pub fn term(
        &mut self,
        term: &[u8],
        main: &[Posting],
        edited: &[Posting],
    ) -> Result<(), SegmentError> {
        if self.terms.is_multiple_of(BLOCK) {
            put_varint(&mut self.sparse, term.len() as u64);
            self.sparse.extend_from_slice(term);
            put_varint(&mut self.sparse, self.dict.len() as u64);
            put_varint(&mut self.sparse, self.written);
        }
        self.terms += 1;
        put_varint(&mut self.dict, term.len() as u64);
        self.dict.extend_from_slice(term);
        let rooms = &self.rooms;
        let number = |room: u64| rooms.binary_search(&room).unwrap_or(0) as u64;
        for list in [main, edited] {
            self.scratch.clear();
            postings::encode(&mut self.scratch, list, number);
            put_varint(&mut self.dict, list.len() as u64);
            put_varint(&mut self.dict, self.scratch.len() as u64);
            self.file.write_all(&self.scratch).map_err(io(&self.tmp))?;
            self.written += self.scratch.len() as u64;
        }
        Ok(())
    }

    /// Writes the dictionary, the rooms and the footer, and puts the file
    /// in its place.
    pub fn finish(mut self, lo: u64, hi: u64, messages: u64) -> Result<(), SegmentError> {
        let dict_start = MAGIC.len() as u64 + self.written;
        let sparse_start = dict_start + self.dict.len() as u64;
        let rooms_start = sparse_start + self.sparse.len() as u64;
        let mut tail = Vec::with_capacity(self.rooms.len() * 8 + FOOTER);
        for r in &self.rooms {
            tail.extend_from_slice(&r.to_le_bytes());
        }
        for v in [dict_start, sparse_start, rooms_start, lo, hi, messages] {
            tail.extend_from_slice(&v.to_le_bytes());
        }
        tail.extend_from_slice(END);
        for part in [&self.dict, &self.sparse, &tail] {
            self.file.write_all(part).map_err(io(&self.tmp))?;
        }
        let file = self
            .file
            .into_inner()
            .map_err(|e| io(&self.tmp)(e.into_error()))?;
        file.sync_all().map_err(io(&self.tmp))?;
        std::fs::rename(&self.tmp, &self.path).map_err(io(&self.path))?;
        Ok(())
    }
}
