//! What this binary is: its version and the source revision it was built from.

/// The package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The source revision, set by `build.rs`: `BUILD_REVISION` when the build sets it (the
/// image build), else the git commit of the checkout, else `unknown` (e.g. a source tarball).
pub const REVISION: &str = env!("WA_GATEWAY_REVISION");

/// `--version`'s text: `0.1.0 (revision 1a2b3c4d5e6f)`.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("WA_GATEWAY_REVISION"),
    ")"
);
