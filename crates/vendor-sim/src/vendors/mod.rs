//! One module per vendor document (document 001 lives in `crate::accounts`).

pub mod accuauth;
pub mod ekycpro;
pub mod nxcloud;
pub mod screening;
