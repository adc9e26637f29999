//! Named prepared statements on the relay: a client's Parse is stored under its shared name and sent (or
//! answered by the proxy when the backend already has it); a Bind or Describe of a statement the backend lacks
//! gets the Parse injected first; the per-connection statement limit closes the least recently used.

use super::*;
use crate::session::postgres::state::Statement;

impl Session {
    pub(super) async fn on_parse(&mut self, frame: &Bytes) -> Result<(), SessionError> {
        let p = match messages::parse_body(&frame[5..]) {
            Ok(p) => p,
            Err(_) => return self.on_parse_lossy(frame).await,
        };
        let class = self.engine.classifier.classify(p.sql);
        if p.name.is_empty() {
            self.unnamed = Some((class.clone(), Arc::from(p.sql)));
            if !self.attach(&class).await? {
                self.skip_to_sync = true;
                return Ok(());
            }
            self.out_b.extend_from_slice(frame);
            self.pending.push(Expect::plain(Sent::Parse(None), Action::Forward));
            return Ok(());
        }
        let stmt = self.state.remember(p.name, p.sql, &p.param_types, class.clone());
        if !self.attach(&class).await? {
            self.skip_to_sync = true;
            return Ok(());
        }
        let att = self.backend.as_mut().expect("attached above");
        if att.conn.statements.get(&stmt.key).is_some() {
            self.pending.push(Expect::plain(Sent::Parse(Some(stmt.key)), Action::Synthesize(b'1')));
        } else {
            self.remember_on_backend(stmt.key);
            self.out_b.extend_from_slice(&stmt.parse);
            self.pending.push(Expect::plain(Sent::Parse(Some(stmt.key)), Action::Forward));
        }
        Ok(())
    }

    /// A Parse whose text is not UTF-8 (a client using a single-byte `client_encoding`): relay it unchanged,
    /// classified from a lossy reading of its text, as the unnamed statement or under the client's own name.
    pub(super) async fn on_parse_lossy(&mut self, frame: &Bytes) -> Result<(), SessionError> {
        let body = &frame[5..];
        let name_end = body.iter().position(|b| *b == 0).ok_or(SessionError::Client("malformed Parse".into()))?;
        let sql = lossy_text(&body[name_end + 1..]);
        let class = self.engine.classifier.classify(&sql);
        if !self.attach(&class).await? {
            self.skip_to_sync = true;
            return Ok(());
        }
        // Pinned: a statement under the client's own name exists only on this backend.
        if name_end > 0 {
            self.pinned = Some(PinReason::SqlPrepare);
            self.dirty = true;
        }
        self.out_b.extend_from_slice(frame);
        self.pending.push(Expect::plain(Sent::Parse(None), Action::Forward));
        Ok(())
    }

    /// Makes sure the attached backend has the shared statement `key`, injecting its Parse if not.
    /// Queues a Bind or Describe for the backend: renamed to the shared name (after making sure the backend has
    /// the statement) when it names one of the client's statements, as sent otherwise.
    pub(super) fn forward_naming(&mut self, stmt: Option<&Statement>, frame: &Bytes) -> Result<(), SessionError> {
        match stmt {
            Some(s) => {
                self.ensure_prepared(s.key, &s.parse);
                pg::messages::rename_statement(frame, &shared_name(s.key), &mut self.out_b).map_err(client_err)
            }
            None => {
                self.out_b.extend_from_slice(frame);
                Ok(())
            }
        }
    }

    pub(super) fn ensure_prepared(&mut self, key: u64, parse: &Bytes) {
        let att = self.backend.as_mut().expect("caller attached a backend");
        if att.conn.statements.get(&key).is_none() {
            self.remember_on_backend(key);
            self.out_b.extend_from_slice(parse);
            self.pending.push(Expect::plain(Sent::Parse(Some(key)), Action::Swallow));
        }
    }

    /// Records that the attached backend is about to have shared statement `key`; when that pushes the least
    /// recently used one out of the per-connection limit, it is closed on the backend (reply swallowed).
    pub(super) fn remember_on_backend(&mut self, key: u64) {
        let att = self.backend.as_mut().expect("caller attached a backend");
        if let Some((evicted, ())) = att.conn.statements.push(key, ())
            && evicted != key
        {
            messages::close_statement(&mut self.out_b, &shared_name(evicted));
            self.pending.push(Expect::plain(Sent::Close, Action::Swallow));
        }
    }
}
