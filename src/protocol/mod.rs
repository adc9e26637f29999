//! Wire protocols spoken by the proxy: framing, message facts, handshakes and authentication.
//!
//! Each submodule states protocol facts only; it never reads configuration, picks a backend or touches metrics.
//! The session layer decides what to do with them.

pub mod mysql;
