//! The queue of replies a session still expects from its backend, one entry per message sent (plus entries for
//! replies the proxy makes up itself). It lets the relay swallow replies to messages the proxy injected (a
//! re-issued Parse), synthesise replies to messages it did not send (a Parse the backend already has, a Close
//! of a shared statement), and know when a backend can be given back.
//!
//! Reply shapes (PostgreSQL protocol 3.0): Parse -> '1'; Bind -> '2'; Describe -> ['t'] then 'T' or 'n';
//! Execute -> rows then 'C' | 'I' | 's'; Close -> '3'; Sync / Query / FunctionCall -> ... 'Z'. An ErrorResponse
//! ends the current extended-protocol message and makes the backend skip everything up to the next Sync.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::classify::Classification;
use crate::monitor::Probe;

/// What to do with the reply to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Relay it to the client.
    Forward,
    /// Drop it: the message was injected by the proxy.
    Swallow,
    /// The backend will not answer; send the client this one-tag message ('1' ParseComplete, '3' CloseComplete)
    /// when the entry reaches the head of the queue.
    Synthesize(u8),
}

/// Which message an entry stands for, which decides the tags that complete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Parse of a shared statement; the fingerprint is its shared name.
    Parse(Option<u64>),
    /// Bind.
    Bind,
    /// Describe.
    Describe,
    /// Execute.
    Execute,
    /// Close.
    Close,
    /// Sync.
    Sync,
    /// Simple Query (or FunctionCall): completes at ReadyForQuery.
    Query,
}

impl Sent {
    /// True when a backend message with `tag` completes the reply to this message.
    pub fn completed_by(self, tag: u8) -> bool {
        match self {
            Sent::Parse(_) => tag == b'1',
            Sent::Bind => tag == b'2',
            Sent::Describe => tag == b'T' || tag == b'n',
            Sent::Execute => matches!(tag, b'C' | b'I' | b's'),
            Sent::Close => tag == b'3',
            Sent::Sync | Sent::Query => tag == b'Z',
        }
    }

    /// True when the backend skips to the next Sync after an error in this message.
    fn extended(self) -> bool {
        !matches!(self, Sent::Sync | Sent::Query)
    }
}

/// One expected reply.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The message it answers.
    pub sent: Sent,
    /// What to do with it.
    pub action: Action,
    /// The statement whose effects (SET, write, transaction control) apply when it completes without error.
    pub effects: Option<Arc<Classification>>,
    /// Text to remember as a session SET when `effects` is a SET that succeeds.
    pub sql: Option<Arc<str>>,
    /// An ErrorResponse arrived while this entry was at the head (simple Query / Sync).
    pub failed: bool,
    /// Timing and outcome for the monitor (simple Query and Execute, when monitoring is on).
    pub probe: Option<Probe>,
}

impl Expect {
    /// An entry with no effects.
    pub fn plain(sent: Sent, action: Action) -> Expect {
        Expect { sent, action, effects: None, sql: None, failed: false, probe: None }
    }
}

/// The queue.
#[derive(Debug, Default)]
pub struct Pending {
    queue: VecDeque<Expect>,
}

/// The outcome of matching one backend message against the queue.
#[derive(Debug)]
pub struct Matched {
    /// Relay the message to the client.
    pub forward: bool,
    /// The entry it completed, if any.
    pub completed: Option<Expect>,
    /// The entries an error made the backend skip (their effects must not apply).
    pub skipped: usize,
}

impl Pending {
    /// Adds an entry at the back.
    pub fn push(&mut self, e: Expect) {
        self.queue.push_back(e);
    }

    /// True when no reply is outstanding.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Number of outstanding entries.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Removes synthesised entries at the head, returning their tags in order.
    pub fn take_synthesized(&mut self, out: &mut Vec<u8>) {
        while let Some(Expect { action: Action::Synthesize(tag), .. }) = self.queue.front() {
            out.push(*tag);
            self.queue.pop_front();
        }
    }

    /// Matches one backend message (by tag) against the head of the queue.
    /// Asynchronous messages (NoticeResponse, NotificationResponse, ParameterStatus) never complete anything.
    pub fn on_message(&mut self, tag: u8) -> Matched {
        if matches!(tag, b'N' | b'A' | b'S') {
            return Matched { forward: true, completed: None, skipped: 0 };
        }
        let Some(head) = self.queue.front() else {
            return Matched { forward: true, completed: None, skipped: 0 };
        };
        let forward = head.action == Action::Forward;
        if tag == b'E' && head.sent.extended() {
            // The failed message is done; the backend ignores everything up to the next Sync.
            let failed = self.queue.pop_front();
            let mut skipped = 0;
            while let Some(e) = self.queue.front() {
                if e.sent == Sent::Sync {
                    break;
                }
                self.queue.pop_front();
                skipped += 1;
            }
            // An error for an injected Parse still matters to the client: its Bind will fail with it.
            return Matched {
                forward: true,
                completed: failed.map(|mut f| {
                    f.effects = None;
                    f
                }),
                skipped,
            };
        }
        if tag == b'E' {
            if let Some(h) = self.queue.front_mut() {
                h.failed = true;
            }
            return Matched { forward, completed: None, skipped: 0 };
        }
        if head.sent.completed_by(tag) {
            let done = self.queue.pop_front();
            return Matched { forward, completed: done, skipped: 0 };
        }
        Matched { forward, completed: None, skipped: 0 }
    }

    /// Number of outstanding request cycles (Sync or simple Query entries), each owed a ReadyForQuery.
    pub fn outstanding_cycles(&self) -> usize {
        self.queue.iter().filter(|e| matches!(e.sent, Sent::Sync | Sent::Query) && e.action != Action::Swallow).count()
    }

    /// The probe of the entry at the head, which the next reply message belongs to.
    pub fn head_probe(&mut self) -> Option<&mut Probe> {
        self.queue.front_mut().and_then(|e| e.probe.as_mut())
    }

    /// Drops everything (the backend connection is gone).
    pub fn clear(&mut self) {
        self.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds backend tags and returns them as forwarded (the tag) or swallowed ('-'), with synthesised tags
    /// in brackets, as one string.
    fn run(entries: &[(Sent, Action)], backend: &[u8]) -> String {
        let mut p = Pending::default();
        for (s, a) in entries {
            p.push(Expect::plain(*s, *a));
        }
        let mut out = String::new();
        let mut synth = Vec::new();
        p.take_synthesized(&mut synth);
        for t in synth.drain(..) {
            out.push_str(&format!("[{}]", t as char));
        }
        for &tag in backend {
            let m = p.on_message(tag);
            out.push(if m.forward { tag as char } else { '-' });
            p.take_synthesized(&mut synth);
            for t in synth.drain(..) {
                out.push_str(&format!("[{}]", t as char));
            }
        }
        assert!(p.is_empty(), "queue drained: {p:?}");
        out
    }

    #[test]
    fn injected_parse_reply_is_swallowed() {
        let got = run(
            &[
                (Sent::Parse(Some(1)), Action::Swallow),
                (Sent::Bind, Action::Forward),
                (Sent::Execute, Action::Forward),
                (Sent::Sync, Action::Forward),
            ],
            b"12DDCZ",
        );
        assert_eq!(got, "-2DDCZ", "the injected ParseComplete is not forwarded");
    }

    #[test]
    fn skipped_parse_is_answered_in_order() {
        let got = run(
            &[
                (Sent::Parse(Some(1)), Action::Synthesize(b'1')),
                (Sent::Bind, Action::Forward),
                (Sent::Sync, Action::Forward),
            ],
            b"2Z",
        );
        assert_eq!(got, "[1]2Z");
        let got = run(
            &[(Sent::Bind, Action::Forward), (Sent::Close, Action::Synthesize(b'3')), (Sent::Sync, Action::Forward)],
            b"2Z",
        );
        assert_eq!(got, "2[3]Z");
    }

    #[test]
    fn error_skips_to_sync_including_synthesised_replies() {
        let got = run(
            &[
                (Sent::Parse(None), Action::Forward),
                (Sent::Parse(Some(2)), Action::Synthesize(b'1')),
                (Sent::Bind, Action::Forward),
                (Sent::Sync, Action::Forward),
            ],
            b"EZ",
        );
        assert_eq!(got, "EZ");
    }

    #[test]
    fn async_messages_pass_and_describe_ends_at_row_description_or_nodata() {
        let got = run(
            &[(Sent::Describe, Action::Forward), (Sent::Describe, Action::Forward), (Sent::Sync, Action::Forward)],
            b"tNTtnSZ",
        );
        assert_eq!(got, "tNTtnSZ");
    }

    #[test]
    fn query_error_marks_entry_failed_but_waits_for_ready() {
        let mut p = Pending::default();
        p.push(Expect::plain(Sent::Query, Action::Forward));
        assert!(p.on_message(b'E').completed.is_none());
        let done = p.on_message(b'Z').completed.expect("ready completes the query");
        assert!(done.failed);
    }
}
