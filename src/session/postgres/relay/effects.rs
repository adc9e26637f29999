//! What completed statements change in the client's session: SET / RESET / DISCARD effects that take hold when
//! their transaction ends well and are dropped when it fails or rolls back.

use super::*;

impl Session {
    /// Applies the effects of a completed message.
    pub(super) fn apply(&mut self, e: Expect) {
        if e.failed {
            return;
        }
        let Some(class) = e.effects else { return };
        if class.txn == TxnEffect::Rollback {
            self.txn_aborted = true;
        }
        match &class.session {
            SessionEffect::Set { name } => {
                if let Some(sql) = e.sql {
                    self.ops.push(SessionOp::Set(name.clone(), sql));
                }
            }
            SessionEffect::Reset { name } => self.ops.push(SessionOp::Reset(name.clone())),
            SessionEffect::ResetAll => self.ops.push(SessionOp::ResetAll),
            SessionEffect::DiscardAll => {
                self.ops.push(SessionOp::ResetAll);
                self.pinned = None;
                self.dirty = false;
                if let Some(att) = &mut self.backend {
                    att.conn.statements.clear();
                }
                self.state.statements.clear();
            }
            _ => {}
        }
    }

    /// A ReadyForQuery: session changes of a finished transaction take effect, or are dropped when it failed.
    pub(super) fn on_ready(&mut self, status: u8) {
        match status {
            b'I' => {
                let ops = std::mem::take(&mut self.ops);
                if !std::mem::take(&mut self.txn_aborted) {
                    for op in ops {
                        match op {
                            SessionOp::Set(name, sql) => self.state.set(&name, &sql),
                            SessionOp::Reset(name) => self.state.reset(&name),
                            SessionOp::ResetAll => self.state.reset_all(),
                        }
                    }
                }
                if let Some(att) = &mut self.backend {
                    att.conn.sets_fingerprint = self.state.sets_fingerprint();
                }
            }
            b'E' => self.txn_aborted = true,
            _ => {}
        }
    }
}
