//! What durable functions and handlers use, without the server: settings, storage, the
//! registry, the master key.

use std::sync::Arc;
use support_core::crypto::MasterKey;
use support_core::registry::Registry;
use support_core::settings::Settings;
use support_core::store::Store;
use support_steps::Function;
use support_store::Db;

/// What durable functions and handlers use: settings, storage, the registry, the master key.
#[derive(Clone)]
pub struct Services {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub master_key: MasterKey,
    /// The knowledge base: articles in the store, the lexical index in RAM (`crates/knowledge`).
    pub knowledge: support_knowledge::KnowledgeBase,
}

/// The durable functions of the platform, built from its services.
pub type FunctionsFn = Arc<dyn Fn(&Services) -> Vec<Function> + Send + Sync>;
