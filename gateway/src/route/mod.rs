//! Stage 4, routing: the running route table, an immutable snapshot that a
//! reload swaps at once ([`table`]); the ACME HTTP-01 decision for the
//! `[http01]` section ([`http01`]); and the plan for one sniffed
//! connection — forward, terminate, tunnel, answer or refuse — made
//! without I/O ([`plan`]).

mod http01;
mod plan;
mod table;

pub(crate) use plan::{Exit, Plan, Request, State, TerminatePlan, classify, plan_routed};
pub use table::RouteError;
pub(crate) use table::{Key, RouteEntry, RouteTable};
