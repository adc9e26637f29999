//! Where does a backend's reply to one command end? A state machine fed the reply's physical packets one by one.
//!
//! It reads only first bytes, lengths and the OK / EOF / ERR packets; rows and column definitions are counted,
//! never decoded, so the relay can forward the original bytes. Legal transitions ([`State`]):
//!
//! ```text
//! First ── OK / EOF ───────────────────────────► Done      (or First again with SERVER_MORE_RESULTS_EXISTS)
//!   │  ── ERR ─────────────────────────────────► Done
//!   │  ── 0xFB LOCAL INFILE ───────────────────► First     (the client sends the file, then OK / ERR follows)
//!   │  ── column count n ──► Columns(n) ──► ColumnsEof ──► Rows ── EOF/OK ──► Done | First (more results)
//!   │                              └─ CLIENT_DEPRECATE_EOF ──────► Rows      └─ ERR ──► Done
//!   │                                   ColumnsEof with SERVER_STATUS_CURSOR_EXISTS (COM_STMT_EXECUTE) ──► Done
//! Prepare ── PREPARE_OK ──► Defs(params + columns + EOFs) ──► Done;  ERR ──► Done
//! Rows (COM_STMT_FETCH starts here), FieldDefs (COM_FIELD_LIST), Single (COM_STATISTICS) ──► Done
//! ```
//!
//! The 0xFE ambiguity: a packet starting with 0xFE ends the row stream when it is shorter than 9 bytes (classic
//! EOF) or, with `CLIENT_DEPRECATE_EOF`, shorter than 16 MiB - 1 (an OK that may carry session-state changes).
//! A text row can only start with 0xFE when its first value is at least 16 MiB long, which makes the packet
//! 16 MiB - 1 bytes; a binary row always starts with 0x00. Pieces following a 16 MiB - 1 payload are
//! continuations and are never classified.
//!
//! Not supported (the relay never negotiates them): `CLIENT_OPTIONAL_RESULTSET_METADATA`, MariaDB metadata
//! caching, compression.

use mysql_common::constants::{CapabilityFlags, StatusFlags};

use super::ProtocolError;
use super::framer::MAX_PAYLOAD;
use super::packets::{
    EOF_HEADER, ERR_HEADER, LOCAL_INFILE_HEADER, OK_HEADER, OkInfo, ServerError, parse_err, parse_ok, parse_terminator,
    read_lenenc,
};
use super::stmt::{StmtPrepareOk, parse_prepare_ok};

/// What the command was, which fixes the shape of its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// COM_QUERY (and unknown commands): OK, ERR, LOCAL INFILE or text result sets, possibly several.
    Query,
    /// COM_STMT_PREPARE: PREPARE_OK with parameter and column definitions, or ERR.
    StmtPrepare,
    /// COM_STMT_EXECUTE: OK, ERR or binary result sets; with a cursor only the column definitions.
    StmtExecute,
    /// COM_STMT_FETCH: binary rows then EOF / OK, or ERR.
    StmtFetch,
    /// COM_FIELD_LIST: column definitions then EOF, or ERR.
    FieldList,
    /// COM_PING, COM_INIT_DB, COM_RESET_CONNECTION, COM_STMT_RESET, COM_SET_OPTION...: one OK, EOF or ERR.
    Simple,
    /// COM_STATISTICS: one packet of text.
    Statistics,
}

/// What the tracker learnt about a finished reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Status of the last OK / EOF. `None` when the reply carried none (an ERR first, a statistics string,
    /// a prepare without EOFs): the transaction state is then unknown from this reply alone.
    pub status: Option<StatusFlags>,
    /// Union of every status word seen (NO_INDEX_USED of an earlier result of a multi-result reply stays here).
    pub flags_seen: StatusFlags,
    /// The ERR that ended the reply, if any.
    pub error: Option<ServerError>,
    /// Sum of affected rows over all OK packets.
    pub affected_rows: u64,
    /// Last insert id of the last OK packet that had one.
    pub last_insert_id: u64,
    /// Warning count of the last OK / EOF.
    pub warnings: u16,
    /// Rows relayed, over all result sets.
    pub rows: u64,
    /// Result sets (row streams) seen.
    pub result_sets: u32,
    /// The PREPARE_OK of a COM_STMT_PREPARE reply.
    pub prepared: Option<StmtPrepareOk>,
}

/// The outcome of feeding one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The reply goes on.
    Continue,
    /// That packet was the last of the reply.
    Done(Summary),
    /// The server asks the client for a local file; relay the client's data packets (ending with an empty
    /// one), then keep feeding the server's OK / ERR to this tracker.
    LocalInfile {
        /// File name the server asked for, as sent.
        filename: Vec<u8>,
    },
}

/// Position inside a reply; see the module doc for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    First,
    Columns(u64),
    ColumnsEof,
    Rows,
    Prepare,
    Defs(u32),
    FieldDefs,
    Single,
    Done,
}

/// Follows one reply packet by packet; make a new one per command.
#[derive(Debug, Clone)]
pub struct ReplyTracker {
    kind: ReplyKind,
    caps: CapabilityFlags,
    state: State,
    continuation: bool,
    summary: Summary,
}

impl ReplyTracker {
    /// A tracker for the reply to a command of `kind` on a connection that negotiated `caps`.
    pub fn new(kind: ReplyKind, caps: CapabilityFlags) -> Self {
        let state = match kind {
            ReplyKind::Query | ReplyKind::StmtExecute | ReplyKind::Simple => State::First,
            ReplyKind::StmtPrepare => State::Prepare,
            ReplyKind::StmtFetch => State::Rows,
            ReplyKind::FieldList => State::FieldDefs,
            ReplyKind::Statistics => State::Single,
        };
        ReplyTracker { kind, caps, state, continuation: false, summary: Summary::default() }
    }

    /// Whether the reply is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// What has been learnt so far (complete once [`Step::Done`] was returned).
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Feeds the payload of the next physical packet of the reply (header removed).
    #[inline]
    pub fn feed(&mut self, payload: &[u8]) -> Result<Step, ProtocolError> {
        if self.continuation {
            self.continuation = payload.len() == MAX_PAYLOAD;
            return Ok(Step::Continue);
        }
        self.continuation = payload.len() == MAX_PAYLOAD;
        let first = payload.first().copied();
        if first == Some(ERR_HEADER) {
            return self.on_err(payload);
        }
        match self.state {
            State::Rows => {
                if self.is_terminator(payload) {
                    return self.end_result_set(payload);
                }
                self.summary.rows += 1;
                Ok(Step::Continue)
            }
            State::Columns(left) => {
                self.state = match left {
                    0 | 1 if self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) => State::Rows,
                    0 | 1 => State::ColumnsEof,
                    n => State::Columns(n - 1),
                };
                Ok(Step::Continue)
            }
            State::ColumnsEof => self.on_columns_eof(payload),
            State::First => self.on_first(payload),
            State::Prepare => self.on_prepare_ok(payload),
            State::Defs(left) => {
                if first == Some(EOF_HEADER) && payload.len() < 9 {
                    self.record(parse_terminator(payload, self.caps)?);
                }
                if left <= 1 {
                    return Ok(self.finish());
                }
                self.state = State::Defs(left - 1);
                Ok(Step::Continue)
            }
            State::FieldDefs => {
                if self.is_terminator(payload) {
                    self.record(parse_terminator(payload, self.caps)?);
                    return Ok(self.finish());
                }
                Ok(Step::Continue)
            }
            State::Single => Ok(self.finish()),
            State::Done => Err(ProtocolError::unexpected("the reply was already complete", payload)),
        }
    }

    /// A 0xFE packet that ends a row stream rather than a row starting with 0xFE.
    #[inline]
    fn is_terminator(&self, payload: &[u8]) -> bool {
        payload.first() == Some(&EOF_HEADER)
            && (payload.len() < 9
                || (self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) && payload.len() < MAX_PAYLOAD))
    }

    fn on_first(&mut self, payload: &[u8]) -> Result<Step, ProtocolError> {
        match payload.first().copied() {
            Some(OK_HEADER) => {
                let ok = parse_ok(payload, self.caps)?;
                self.summary.affected_rows = self.summary.affected_rows.saturating_add(ok.affected_rows);
                if ok.last_insert_id != 0 {
                    self.summary.last_insert_id = ok.last_insert_id;
                }
                Ok(self.after_status(ok))
            }
            Some(EOF_HEADER) if self.is_terminator(payload) => {
                let eof = parse_terminator(payload, self.caps)?;
                Ok(self.after_status(eof))
            }
            Some(LOCAL_INFILE_HEADER) if self.kind == ReplyKind::Query => {
                Ok(Step::LocalInfile { filename: payload[1..].to_vec() })
            }
            _ if self.kind == ReplyKind::Simple => Err(ProtocolError::unexpected("expecting OK or ERR", payload)),
            _ => {
                let (count, used) = read_lenenc(payload).ok_or(ProtocolError::malformed("column count"))?;
                if used != payload.len() || count == 0 {
                    return Err(ProtocolError::malformed("column count"));
                }
                self.state = State::Columns(count);
                Ok(Step::Continue)
            }
        }
    }

    fn on_columns_eof(&mut self, payload: &[u8]) -> Result<Step, ProtocolError> {
        if !self.is_terminator(payload) {
            return Err(ProtocolError::unexpected("expecting EOF after column definitions", payload));
        }
        let eof = parse_terminator(payload, self.caps)?;
        self.record(eof);
        if self.kind == ReplyKind::StmtExecute && eof.status.contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS) {
            // A cursor was opened: rows come later, through COM_STMT_FETCH.
            self.summary.result_sets += 1;
            return Ok(self.finish());
        }
        self.state = State::Rows;
        Ok(Step::Continue)
    }

    fn on_prepare_ok(&mut self, payload: &[u8]) -> Result<Step, ProtocolError> {
        let ok = parse_prepare_ok(payload)?;
        self.summary.prepared = Some(ok);
        self.summary.warnings = ok.warnings;
        let eofs = !self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
        let block = |n: u16| u32::from(n) + u32::from(n > 0 && eofs);
        let left = block(ok.num_params) + block(ok.num_columns);
        if left == 0 {
            return Ok(self.finish());
        }
        self.state = State::Defs(left);
        Ok(Step::Continue)
    }

    fn on_err(&mut self, payload: &[u8]) -> Result<Step, ProtocolError> {
        let err = parse_err(payload)?;
        // 0xFFFF is a MariaDB progress report, not an error; the reply goes on.
        if err.code == 0xFFFF {
            return Ok(Step::Continue);
        }
        self.summary.error = Some(err);
        Ok(self.finish())
    }

    fn end_result_set(&mut self, payload: &[u8]) -> Result<Step, ProtocolError> {
        let end = parse_terminator(payload, self.caps)?;
        self.summary.result_sets += 1;
        Ok(self.after_status(end))
    }

    fn record(&mut self, info: OkInfo) {
        self.summary.status = Some(info.status);
        self.summary.flags_seen |= info.status;
        self.summary.warnings = info.warnings;
    }

    /// Records an OK / EOF and either ends the reply or expects the next result.
    fn after_status(&mut self, info: OkInfo) -> Step {
        self.record(info);
        if info.status.contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS) {
            self.state = State::First;
            Step::Continue
        } else {
            self.finish()
        }
    }

    fn finish(&mut self) -> Step {
        self.state = State::Done;
        Step::Done(self.summary.clone())
    }
}
