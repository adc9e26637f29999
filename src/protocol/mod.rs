//! Wire protocols spoken by clients and backends: framing, message layouts, start-up and authentication.
//!
//! Each submodule states facts about one protocol and nothing else: it never reads configuration, never picks
//! a backend, never touches metrics. The session (`crate::session`) decides what to do with the frames.

pub mod mysql;
pub mod postgres;
