//! State shared by every route of one running simulator.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::SimConfig;
use crate::faults::FaultRegistry;
use crate::files::FileStore;
use crate::ledger::LedgerBook;
use crate::vendors::{accuauth::AccuauthStore, ekycpro::EkycproStore, screening::ScreeningStore};

#[derive(Debug)]
pub struct SimState {
    pub config: SimConfig,
    pub ledger: LedgerBook,
    pub faults: FaultRegistry,
    pub files: FileStore,
    pub screening: ScreeningStore,
    pub ekycpro: EkycproStore,
    pub accuauth: AccuauthStore,
    ids: AtomicU64,
}

impl SimState {
    /// `base_url` is where result-file URLs point unless the config overrides it.
    pub fn new(config: SimConfig, base_url: &str) -> Result<Self, String> {
        let faults = FaultRegistry::default();
        for f in &config.faults {
            faults.set(f.clone())?;
        }
        let file_base = config
            .result_url_base
            .clone()
            .unwrap_or_else(|| base_url.to_owned());
        Ok(Self {
            files: FileStore::new(&file_base, config.result_ttl()),
            config,
            ledger: LedgerBook::default(),
            faults,
            screening: ScreeningStore::default(),
            ekycpro: EkycproStore::default(),
            accuauth: AccuauthStore::default(),
            ids: AtomicU64::new(0),
        })
    }

    /// 128 bits derived from the seed and a counter: ids repeat across runs with the same seed.
    pub fn next_id_bits(&self, salt: &str) -> (u64, u64) {
        let n = self.ids.fetch_add(1, Ordering::Relaxed).to_string();
        let seed = self.config.seed;
        (
            crate::truth::hash64(seed, salt, &n),
            crate::truth::hash64(seed, &format!("{salt}/2"), &n),
        )
    }

    /// 32 lowercase hex characters, like a screening order id.
    pub fn next_hex_id(&self, salt: &str) -> String {
        let (a, b) = self.next_id_bits(salt);
        format!("{a:016x}{b:016x}")
    }
}
