//! Listings that do not depend on the lab: every bucket of the account, every function,
//! every role under labctl's path with its owner tag... One run of one lab makes each
//! once anyway; in class mode, the labs of one account share the clients and so these
//! results, and 200 labs make one listing per kind instead of 200.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::error::AwsError;

type Cell = Arc<OnceCell<Arc<dyn Any + Send + Sync>>>;

#[derive(Default)]
pub struct Listings {
    cells: Mutex<HashMap<String, Cell>>,
    /// Names the labs of a class declare, by lab: another lab's discovery need not ask
    /// whose they are.
    claimed: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Listings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<String> = self
            .cells
            .lock()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("Listings").field("keys", &keys).finish()
    }
}

impl Listings {
    /// `lab` declares the resource `key` (e.g. `iam:role:NAME`).
    pub fn claim(&self, key: &str, lab: &str) {
        if let Ok(mut c) = self.claimed.lock() {
            c.insert(key.to_owned(), lab.to_owned());
        }
    }

    /// The lab of the class that declares `key`, if one does.
    pub fn claimed_by(&self, key: &str) -> Option<String> {
        self.claimed.lock().ok()?.get(key).cloned()
    }

    /// The listing named `key`, made by `list` the first time any lab asks. A failure
    /// is not kept: the next lab to ask tries again.
    pub async fn get<T, F, Fut>(&self, key: &str, list: F) -> Result<Arc<T>, AwsError>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        let cell = match self.cells.lock() {
            Ok(mut c) => c.entry(key.to_owned()).or_default().clone(),
            Err(_) => Cell::default(),
        };
        let value = cell
            .get_or_try_init(|| async {
                list()
                    .await
                    .map(|v| Arc::new(v) as Arc<dyn Any + Send + Sync>)
            })
            .await?
            .clone();
        value.downcast::<T>().map_err(|_| AwsError {
            op: "shared listing",
            code: "Internal".into(),
            message: format!("listing `{key}` asked for as two kinds of result"),
            status: None,
            class: super::error::Class::Fatal,
        })
    }
}
