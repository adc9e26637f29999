//! The query monitor (DESIGN §7): per-statement timing events from the sessions, folded off the data path
//! into per-digest statistics with percentiles, per-type totals and a slow-query log; slow statements are
//! explained on a side connection ([`explain`]) and turned into suggestions ([`advice`]).

pub mod advice;
mod aggregate;
pub mod digest;
pub mod event;
pub mod explain;
pub mod params;
pub mod slowlog;

pub use aggregate::{Monitor, Sink, SlowQuery, Thresholds, TypeTotals, engine_name};
pub use event::{Params, Probe, QueryEvent, SessionInfo, Text};
pub use slowlog::SlowLog;
