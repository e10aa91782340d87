//! Vendor adapters, one folder per vendor, behind one trait per capability.
#![forbid(unsafe_code)]
