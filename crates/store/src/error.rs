//! The store's error type.

/// Why a store operation failed.
///
/// The variants split by what a caller can do about it:
/// - [`StoreError::Unavailable`] and [`StoreError::Timeout`] are transient: the
///   backend could not be reached or did not answer in time. Retrying later may
///   succeed; readiness probes report them; HTTP handlers map them to 503.
/// - [`StoreError::Corrupt`] is permanent for the given key/arguments: the stored
///   value does not have the expected shape (wrong data type, not an integer,
///   undecodable JSON, not UTF-8), or an argument cannot be represented (NaN
///   score, malformed stream id, value that cannot be encoded as JSON).
///   Retrying the same call will fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the command.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend did not answer within the command timeout.
    #[error("store command timed out")]
    Timeout,
    /// The stored data (or an argument) does not have the expected shape.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True for errors that may go away by themselves (backend down or slow).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Timeout)
    }

    pub(crate) fn wrong_type() -> Self {
        StoreError::Corrupt(
            "WRONGTYPE Operation against a key holding the wrong kind of value".to_owned(),
        )
    }

    pub(crate) fn not_integer() -> Self {
        StoreError::Corrupt("value is not an integer or out of range".to_owned())
    }

    pub fn invalid(what: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(format!("invalid argument: {what}"))
    }
}
