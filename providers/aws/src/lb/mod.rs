//! Load balancers: plan (pure) -> observe (reads) -> diff (pure) -> apply (writes).
//!
//! `ensure` runs all four ([`ensure`]); `plan` stops after the diff and returns the
//! [`changes::ChangeSet`]. A provider's first observe of each stack reads a listing of all
//! stacks ([`inventory`]) instead of its per-stack calls.

/// Every page of the ELBv2 listing `$describe` (`Marker`-paginated, each page one `$op` call
/// through the budget), the request set up by the `.method(value)` calls given; a future of
/// the pages.
macro_rules! elb_pages {
    ($provider:expr, $op:ident, $describe:ident $(. $arg:ident ($value:expr))*) => {{
        let elb = &$provider.inner.elb;
        $provider.pages(
            crate::ops::AwsOp::$op,
            |marker| elb.$describe()$(.$arg($value))*.set_marker(marker).send(),
            |p| p.next_marker(),
        )
    }};
}

mod apply;
pub mod backend_sg;
mod backend_sg_deploy;
mod bound;
pub mod changes;
pub mod convert;
pub mod diff;
mod ensure;
mod inventory;
mod lifecycle;
pub mod matching;
pub mod model;
pub mod observe;
pub mod plan;
pub mod subnets;
mod writes;
