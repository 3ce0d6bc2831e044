//! The six built-in routing policies of SPEC R11, each registered like any plugin.

mod all_at_once;
mod round_robin;
pub(crate) mod sorted;

pub use all_at_once::AllAtOnce;
pub use round_robin::RoundRobin;
pub use sorted::{SortedPolicy, evenly, least_busy, longest_idle, strict_order};
