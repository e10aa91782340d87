//! ekycpro wire format (document 003). Private to this module.

use serde::Deserialize;

/// Task as returned by upload and status calls. Counts are optional so a partial answer
/// still reads.
#[derive(Debug, Deserialize)]
pub(super) struct Task {
    #[serde(default)]
    pub task_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub success: Option<u64>,
    #[serde(default)]
    pub failure: Option<u64>,
    #[serde(default)]
    pub result_url: Option<String>,
}
