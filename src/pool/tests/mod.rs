//! Unit tests for pools, topology and health checks, against an in-memory [`fake::Fake`] connector and
//! probe. Time is tokio's paused clock; tasks are synchronised by yielding until a condition holds.

mod checkout;
mod fake;
mod health;
mod topology;
mod upkeep;
