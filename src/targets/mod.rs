//! Targets: the catalog, their preparation, and launchers (local process, external URL).
pub mod catalog;
pub mod client;
pub mod container;
pub mod driver;
pub mod prepare;

use crate::suite::model::FixtureSpec;
use crate::suite::{Layer, Revision};
use catalog::TargetDef;
use driver::{Driver, DriverError};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub use container::Backend;

/// An implementation under test, ready to give servers.
pub enum Target {
    Process {
        def: TargetDef,
        driver: Arc<Driver>,
        /// How the driver was started, so another one can be (`Target::isolated`).
        origin: Origin,
    },
    /// A server the user started by hand with the standard fixture.
    Url { base: String, path: String, revision: Revision },
}

/// Where a launched target's driver runs.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A local process started in this project root.
    Local(std::path::PathBuf),
    /// A container of this image.
    Container(String),
}

/// A live server for one case. Dropping it closes the server.
pub struct ServerInstance {
    pub base: String,
    /// Path the case's layer is served on.
    pub path: String,
    /// Server-side events reported by the driver, when the target has one.
    pub events: Option<mpsc::Receiver<Value>>,
    closer: Option<(Arc<Driver>, String)>,
}

impl Drop for ServerInstance {
    fn drop(&mut self) {
        if let Some((d, id)) = self.closer.take() {
            d.close(&id);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Error(String),
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error(transparent)]
    Prepare(#[from] prepare::PrepareError),
    #[error("target `{name}` failed to start: {source}")]
    Driver { name: String, source: DriverError },
    #[error("invalid --url `{0}`: {1}")]
    BadUrl(String, String),
    /// The container backend could not provide the target (no engine, image build failed).
    #[error("target `{0}` (container backend): {1}")]
    Container(String, String),
}

/// What a case asks of a server.
#[derive(Debug, Clone)]
pub struct ServerRequest<'a> {
    pub key: String,
    pub layer: Layer,
    pub fixture: &'a FixtureSpec,
    pub allow_eio3: bool,
}

impl Target {
    pub async fn start_process(root: &Path, def: &TargetDef, ready_within: Duration) -> Result<Target, TargetError> {
        let driver = Driver::start(root, &def.command, ready_within)
            .await
            .map_err(|source| TargetError::Driver { name: def.name.clone(), source })?;
        Ok(Target::Process { def: def.clone(), driver: Arc::new(driver), origin: Origin::Local(root.to_path_buf()) })
    }

    /// The target's driver in a container of `image` (its family's image, see `crate::containers`).
    pub async fn start_container(image: &str, def: &TargetDef, ready_within: Duration) -> Result<Target, TargetError> {
        let driver = container::start_driver(image, &def.command, &def.name, ready_within)
            .await
            .map_err(|source| TargetError::Driver { name: def.name.clone(), source })?;
        Ok(Target::Process { def: def.clone(), driver: Arc::new(driver), origin: Origin::Container(image.to_string()) })
    }

    /// Another instance of the same target with a driver of its own, for cases that may kill
    /// their server or whose memory is measured: nothing else runs in that process. A server
    /// started by hand has no other instance: the same target is returned.
    pub async fn isolated(&self, ready_within: Duration) -> Result<Target, TargetError> {
        match self {
            Target::Process { def, origin: Origin::Local(root), .. } => Target::start_process(root, def, ready_within).await,
            Target::Process { def, origin: Origin::Container(image), .. } => Target::start_container(image, def, ready_within).await,
            Target::Url { base, path, revision } => Ok(Target::Url { base: base.clone(), path: path.clone(), revision: *revision }),
        }
    }

    /// How the target's driver process ended, if it did (None: running, or a server started by hand).
    pub fn ended(&self) -> Option<String> {
        match self {
            Target::Process { driver, .. } => driver.ended(),
            Target::Url { .. } => None,
        }
    }

    /// The local process id of the target's driver, for measuring its memory.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Target::Process { driver, .. } => driver.pid(),
            Target::Url { .. } => None,
        }
    }

    pub fn url(url: &str, revision: Revision) -> Result<Target, TargetError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| TargetError::BadUrl(url.into(), "it must start with http://".into()))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if host.is_empty() {
            return Err(TargetError::BadUrl(url.into(), "it names no host".into()));
        }
        let mut path = path.split('?').next().unwrap_or("/").to_string();
        if !path.ends_with('/') {
            path.push('/');
        }
        if path == "/" {
            return Err(TargetError::BadUrl(
                url.into(),
                "it must include the path the server is mounted on, e.g. http://127.0.0.1:3000/engine.io/".into(),
            ));
        }
        Ok(Target::Url { base: format!("http://{host}"), path, revision })
    }

    pub fn name(&self) -> String {
        match self {
            Target::Process { def, .. } => def.name.clone(),
            Target::Url { base, path, .. } => format!("{base}{path}"),
        }
    }

    /// None when the target does not speak the revision; Some(true) when it needs allowEIO3 for it.
    pub fn speaks(&self, rev: Revision) -> Option<bool> {
        match self {
            Target::Process { def, .. } => def.speaks(rev),
            Target::Url { revision, .. } => (*revision == rev).then_some(false),
        }
    }

    pub fn has_capability(&self, cap: &str) -> bool {
        match self {
            Target::Process { def, .. } => def.capabilities.iter().any(|c| c == cap),
            // A server started by hand has what the standard fixture implies (connectTimeout, CORS).
            Target::Url { .. } => crate::suite::standard::standard().implies(cap),
        }
    }

    /// Why the target cannot serve the handlers a case declares, if it cannot: a server
    /// started by hand has only the standard fixture's; siospec's drivers serve every one.
    pub fn missing_handler(&self, handlers: &[String]) -> Option<String> {
        match self {
            Target::Process { .. } => None,
            Target::Url { .. } => crate::suite::standard::standard().missing_handler(handlers),
        }
    }

    pub async fn server(&self, req: ServerRequest<'_>, within: Duration) -> Result<ServerInstance, ServerError> {
        match self {
            Target::Url { base, path, .. } => {
                // Options equal to the standard fixture's defaults are no "other option".
                let mut set = crate::suite::standard::standard().differences(req.fixture, req.layer);
                if req.allow_eio3 {
                    set.push("allowEIO3 = true (the standard fixture has false)".into());
                }
                if !set.is_empty() {
                    return Err(ServerError::Unsupported(format!(
                        "needs fixture option(s) {}; a server started by hand runs the standard fixture (fixtures/standard.toml)",
                        set.join(", ")
                    )));
                }
                Ok(ServerInstance { base: base.clone(), path: path.clone(), events: None, closer: None })
            }
            Target::Process { driver, .. } => {
                let mut opts = serde_json::to_value(req.fixture).unwrap_or_else(|_| json!({}));
                if let Some(o) = opts.as_object_mut() {
                    o.insert("layer".into(), json!(req.layer.as_str()));
                    if o.get("cors").and_then(|c| c.as_str()) == Some("none") {
                        o.insert("cors".into(), Value::Null);
                    }
                    if req.allow_eio3 && !o.contains_key("allowEIO3") {
                        o.insert("allowEIO3".into(), json!(true));
                    }
                }
                let path = req.fixture.path.clone().unwrap_or_else(|| req.layer.default_path().to_string());
                match driver.listen(&req.key, opts, within).await {
                    Ok((port, events)) => Ok(ServerInstance {
                        base: format!("http://127.0.0.1:{port}"),
                        path,
                        events: Some(events),
                        closer: Some((driver.clone(), req.key)),
                    }),
                    Err(DriverError::Unsupported(why)) => Err(ServerError::Unsupported(why)),
                    Err(e) => Err(ServerError::Error(e.to_string())),
                }
            }
        }
    }

    pub async fn shutdown(&self) {
        if let Target::Process { driver, .. } = self {
            driver.shutdown().await;
        }
    }
}
