//! Which tenant owns a vendor-side object. Vendor webhooks name accounts, sessions,
//! registrations and scan tasks by vendor ids only; these records route them to their tenant,
//! and every read checks them so another tenant gets 404.

use std::fmt;
use std::future::Future;

use crate::error::ApiError;
use crate::keys;
use crate::state::AppState;
use crate::store::{Store, StoreError};

/// A record that belongs to one tenant and is addressed by an id in the path: accounts'
/// sessions, scan tasks, registrations and chat actions, number-check jobs, subscriptions.
/// Implementations say how to read it for a tenant; [`load`] (and the `Owned` extractor built
/// on it) is the one way every route answers 404 for unknown ids and other tenants' records alike.
pub trait TenantRecord: Sized + 'static {
    /// Named in the 404 ("session not found").
    const WHAT: &'static str;

    /// The record when `tenant` owns it; `None` when it does not exist or is another tenant's.
    fn load_for(
        state: &AppState,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Self>, ApiError>>;
}

/// `tenant`'s record `id`, or 404.
pub async fn load<T: TenantRecord>(
    state: &AppState,
    tenant: &str,
    id: &str,
) -> Result<T, ApiError> {
    if id.is_empty() || id.len() > 128 {
        return Err(ApiError::not_found(T::WHAT));
    }
    T::load_for(state, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(T::WHAT))
}

/// The kinds of vendor objects a tenant can own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnedKind {
    /// A WhatsApp customer-service account, by its number (digits, no `+`).
    Account,
    /// A login session on a cloud port, by the vendor's session / port id.
    Session,
    /// A registration, by the phone number being registered (digits).
    Registration,
    /// A PC scan task, by the vendor's task id.
    ScanTask,
    /// A chat action, by the vendor's action id.
    ChatAction,
}

impl OwnedKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            OwnedKind::Account => "account",
            OwnedKind::Session => "session",
            OwnedKind::Registration => "registration",
            OwnedKind::ScanTask => "scan_task",
            OwnedKind::ChatAction => "chat_action",
        }
    }
}

impl fmt::Display for OwnedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Records that `tenant` owns the object. The first owner wins: a second tenant claiming the
/// same vendor object gets `false` and must not act on it.
pub async fn claim(
    store: &Store,
    kind: OwnedKind,
    id: &str,
    tenant: &str,
) -> Result<bool, StoreError> {
    if store
        .set_nx(&keys::Owner::of(kind, id), tenant.as_bytes(), None)
        .await?
    {
        return Ok(true);
    }
    Ok(owner(store, kind, id).await?.as_deref() == Some(tenant))
}

/// The owning tenant, if any.
pub async fn owner(store: &Store, kind: OwnedKind, id: &str) -> Result<Option<String>, StoreError> {
    let mut found = store.get(&keys::Owner::of(kind, id)).await?;
    if found.is_none()
        && let Some(legacy) =
            (kind == OwnedKind::ChatAction).then(|| keys::LegacyActionOwner::new(id))
    {
        found = store.get(&legacy).await?;
    }
    Ok(found.and_then(|bytes| String::from_utf8(bytes).ok()))
}

/// True when `tenant` owns the object.
pub async fn owns(
    store: &Store,
    kind: OwnedKind,
    id: &str,
    tenant: &str,
) -> Result<bool, StoreError> {
    Ok(owner(store, kind, id).await?.as_deref() == Some(tenant))
}

/// Forgets the owner (an account recycled, a session logged out and released).
pub async fn release(store: &Store, kind: OwnedKind, id: &str) -> Result<(), StoreError> {
    store.delete(&keys::Owner::of(kind, id)).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_tenant_keeps_the_object() {
        let store = Store::memory("t:");
        assert!(
            claim(&store, OwnedKind::Session, "42", "a")
                .await
                .expect("claim")
        );
        assert!(
            claim(&store, OwnedKind::Session, "42", "a")
                .await
                .expect("again"),
            "re-claiming is idempotent"
        );
        assert!(
            !claim(&store, OwnedKind::Session, "42", "b")
                .await
                .expect("other")
        );
        assert!(
            owns(&store, OwnedKind::Session, "42", "a")
                .await
                .expect("owns")
        );
        assert!(
            !owns(&store, OwnedKind::Session, "42", "b")
                .await
                .expect("owns")
        );
        assert_eq!(
            owner(&store, OwnedKind::Account, "42")
                .await
                .expect("kind apart"),
            None
        );
        release(&store, OwnedKind::Session, "42")
            .await
            .expect("release");
        assert!(
            claim(&store, OwnedKind::Session, "42", "b")
                .await
                .expect("after release")
        );
    }
}
