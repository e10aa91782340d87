//! Typed keys: each key of the store is declared once, with its name pattern, what it holds
//! and how long it lives, by [`key_def!`](crate::key_def). Call sites build keys with the
//! declared type (`JobKey::new(id)`) and never write key strings.
//!
//! A declared key dereferences to its logical name (`&str`, without the store's prefix), so
//! every [`Store`](crate::Store) operation takes it as is; keys holding JSON documents also
//! get typed reads and writes ([`Store::load`](crate::Store::load),
//! [`Store::save`](crate::Store::save), [`Store::save_for`](crate::Store::save_for)).
//!
//! Patterns are `format!` strings, so a Redis hash tag is written with doubled braces:
//! `"{{nc:job:{id}}}:numbers"` gives `{nc:job:42}:numbers`. Keys that a multi-key command,
//! transaction or script uses together must share a tag (see [`crate::slot`]).

use std::marker::PhantomData;
use std::time::Duration;

/// How long a key lives, as declared with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// No expiry: the gateway deletes it (or it is small and bounded).
    Forever,
    /// Always this long from the last write.
    Fixed(Duration),
    /// Set by the caller at each write (it comes from configuration, or varies per entry).
    Caller,
}

/// A declared key of the store.
pub trait Key: std::ops::Deref<Target = str> {
    /// What the key holds: [`Json`] of a type, or one of the shapes ([`Bytes`], [`Counter`],
    /// [`Hash`], [`Set`], [`SortedSet`], [`List`], [`Stream`], [`Lease`]).
    type Value;
    /// The name pattern (a `format!` string over the constructor's arguments).
    const PATTERN: &'static str;
    /// How long the key lives.
    const TTL: Ttl;
}

/// A key whose TTL is declared ([`Ttl::Forever`] or [`Ttl::Fixed`]), so a write needs none.
pub trait DeclaredTtl: Key {
    /// The TTL to write with (`None`: no expiry).
    fn ttl() -> Option<Duration> {
        match Self::TTL {
            Ttl::Fixed(ttl) => Some(ttl),
            Ttl::Forever | Ttl::Caller => None,
        }
    }
}

/// A JSON document of type `T`.
#[derive(Debug)]
pub struct Json<T>(PhantomData<T>);

/// Opaque bytes (or a presence marker).
#[derive(Debug)]
pub enum Bytes {}
/// An integer counter ([`Store::incr`](crate::Store::incr)).
#[derive(Debug)]
pub enum Counter {}
/// A hash of fields.
#[derive(Debug)]
pub enum Hash {}
/// A sorted set.
#[derive(Debug)]
pub enum SortedSet {}
/// A list.
#[derive(Debug)]
pub enum List {}
/// A set of strings ([`Store::set_add`](crate::Store::set_add)).
#[derive(Debug)]
pub enum Set {}
/// A stream.
#[derive(Debug)]
pub enum Stream {}
/// A lease: its value is the holder ([`Store::lease_acquire`](crate::Store::lease_acquire)).
#[derive(Debug)]
pub enum Lease {}

/// Declares key types: `name(args) => "pattern": Value, ttl = forever | caller | fixed(duration);`.
///
/// ```
/// use store::keys::{Counter, Json, Key as _};
///
/// store::key_def! {
///     /// A job's state.
///     pub JobKey(id: &str) => "{{job:{id}}}:meta": Json<String>, ttl = caller;
///     /// Requests of a tenant in a minute.
///     pub Hits(tenant: &str, minute: u64) => "hits:{tenant}:{minute}": Counter,
///         ttl = fixed(std::time::Duration::from_secs(120));
/// }
///
/// assert_eq!(&*JobKey::new("42"), "{job:42}:meta");
/// assert_eq!(Hits::new("acme", 7).to_string(), "hits:acme:7");
/// assert_eq!(JobKey::PATTERN, "{{job:{id}}}:meta");
/// ```
#[macro_export]
macro_rules! key_def {
    ($(
        $(#[$meta:meta])*
        $vis:vis $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) => $pattern:literal : $value:ty,
            ttl = $ttl:ident $( ( $duration:expr ) )? ;
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        $vis struct $name(String);

        impl $name {
            /// The key for these arguments.
            #[must_use]
            #[allow(clippy::new_without_default)]
            pub fn new($($arg: $ty),*) -> Self {
                Self(format!($pattern $(, $arg = $arg)*))
            }
        }

        impl $crate::keys::Key for $name {
            type Value = $value;
            const PATTERN: &'static str = $pattern;
            const TTL: $crate::keys::Ttl = $crate::key_def!(@ttl $ttl $( ($duration) )?);
        }

        $crate::key_def!(@declared $name $ttl);

        impl ::std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl ::std::convert::AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::convert::From<$name> for String {
            fn from(key: $name) -> String {
                key.0
            }
        }
    )*};
    (@ttl forever) => { $crate::keys::Ttl::Forever };
    (@ttl caller) => { $crate::keys::Ttl::Caller };
    (@ttl fixed ($duration:expr)) => { $crate::keys::Ttl::Fixed($duration) };
    (@declared $name:ident caller) => {};
    (@declared $name:ident $other:ident) => {
        impl $crate::keys::DeclaredTtl for $name {}
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slot::key_slot;

    crate::key_def! {
        /// Test key with a tag.
        Meta(id: &str) => "{{job:{id}}}:meta": Json<u32>, ttl = forever;
        /// Test key sharing the tag.
        Numbers(id: &str) => "{{job:{id}}}:numbers": List, ttl = fixed(Duration::from_secs(5));
        /// Test key without arguments.
        Due() => "jobs:due": SortedSet, ttl = caller;
    }

    #[test]
    fn keys_render_their_pattern() {
        assert_eq!(&*Meta::new("7"), "{job:7}:meta");
        assert_eq!(String::from(Numbers::new("7")), "{job:7}:numbers");
        assert_eq!(Due::new().to_string(), "jobs:due");
        assert_eq!(Meta::PATTERN, "{{job:{id}}}:meta");
    }

    #[test]
    fn ttls_are_declared_with_the_key() {
        assert_eq!(Meta::TTL, Ttl::Forever);
        assert_eq!(<Meta as DeclaredTtl>::ttl(), None);
        assert_eq!(
            <Numbers as DeclaredTtl>::ttl(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(Due::TTL, Ttl::Caller);
    }

    #[test]
    fn keys_sharing_a_tag_share_a_slot_under_any_prefix() {
        for id in ["1", "nc_0190ffee", "x{y"] {
            let meta = format!("wagw:{}", &*Meta::new(id));
            let numbers = format!("other:{}", &*Numbers::new(id));
            assert_eq!(key_slot(&meta), key_slot(&numbers), "{id}");
        }
    }
}
