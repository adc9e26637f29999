//! Query monitoring: EXPLAIN on a side connection ([`explain`]) and slow-query advice ([`advice`]).

pub mod advice;
pub mod explain;
