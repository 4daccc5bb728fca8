//! Conformance of the uploadUrl mock, or of any deployment of the operation,
//! with Graph's documented example.
//!
//! [`fixture`] reads the documented exchange and its named exceptions,
//! [`compare`] checks a response against it field by field, [`exchange`]
//! captures responses and snapshots them with redactions that check each
//! dynamic value's format before hiding it, [`target`] starts the mock
//! in-process or points at a running server, and [`services`] finds the
//! Azurite and Python that some tests need.

pub mod compare;
pub mod exchange;
pub mod fixture;
pub mod runner;
pub mod sas_url;
pub mod schema;
pub mod services;
pub mod target;
