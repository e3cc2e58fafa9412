//! The project on disk: where suites, the catalog and expectations live.
use crate::run::expectations::{self, Expectations};
use crate::suite::{self, Case, SuiteError, Suites};
use crate::targets::catalog::{Catalog, CatalogError, TargetDef};
use crate::targets::driver::Driver;
use crate::targets::prepare::{self, Readiness};
use crate::targets::{Backend, Target, TargetError};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Project {
    pub root: PathBuf,
    pub catalog: Catalog,
    pub suites: Suites,
    /// How targets are launched (`--backend`): local processes (default) or containers.
    pub backend: Backend,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("{0} is not a siospec project (no suites/ or fixtures/targets.toml); pass --root or set SIOSPEC_ROOT")]
    NotProject(PathBuf),
}

impl Project {
    /// `--root` > `SIOSPEC_ROOT` > the source tree this binary was built from > the current directory.
    pub fn resolve_root(flag: Option<&Path>) -> PathBuf {
        if let Some(p) = flag {
            return p.to_path_buf();
        }
        if let Some(p) = std::env::var_os("SIOSPEC_ROOT") {
            return PathBuf::from(p);
        }
        let built = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        if built.join("fixtures/targets.toml").is_file() {
            return built;
        }
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
    }

    pub fn load(root: &Path) -> Result<Project, ProjectError> {
        let cat_path = root.join("fixtures/targets.toml");
        if !cat_path.is_file() || !root.join("suites").is_dir() {
            return Err(ProjectError::NotProject(root.to_path_buf()));
        }
        Ok(Project {
            root: root.to_path_buf(),
            catalog: Catalog::load(&cat_path)?,
            suites: suite::load_all(&root.join("suites"), &[crate::matrix::scenario::DIR])?,
            backend: Backend::default(),
        })
    }

    pub fn expectations(&self, target: &str) -> Result<Expectations, String> {
        Expectations::load(&expectations::file_for(&self.root, target))
    }

    pub fn readiness(&self, def: &TargetDef) -> Readiness {
        if self.backend == Backend::Container {
            return match crate::containers::image_state(&self.root, &def.family) {
                crate::containers::ImageState::Built => Readiness::Prepared,
                crate::containers::ImageState::Buildable => Readiness::NeedsPrepare,
                crate::containers::ImageState::Unavailable(why) => Readiness::Unavailable(why),
            };
        }
        match self.catalog.family.get(&def.family) {
            Some(f) => prepare::readiness(&self.root, &def.family, f),
            None => Readiness::Unavailable(format!("unknown family {}", def.family)),
        }
    }

    /// Prepares the target's family if needed (cached), then starts its driver
    /// (with `self.backend`).
    pub async fn open_target(&self, def: &TargetDef, time_scale: f64) -> Result<Target, TargetError> {
        self.open_target_on(self.backend, def, time_scale).await
    }

    /// The target's driver on a given backend.
    pub async fn open_target_on(&self, backend: Backend, def: &TargetDef, time_scale: f64) -> Result<Target, TargetError> {
        let ready = Duration::from_millis((15_000.0 * time_scale) as u64);
        if backend == Backend::Container {
            let image = self.container_image(def).await?;
            return Target::start_container(&image, def, ready).await;
        }
        if let Some(fam) = self.catalog.family.get(&def.family) {
            let root = self.root.clone();
            let (name, fam) = (def.family.clone(), fam.clone());
            tokio::task::spawn_blocking(move || prepare::prepare(&root, &name, &fam, false))
                .await
                .map_err(|e| TargetError::BadUrl(String::new(), e.to_string()))??;
        }
        Target::start_process(&self.root, def, Duration::from_millis((15_000.0 * time_scale) as u64)).await
    }

    /// A bare driver for `def` (client drivers of the matrix) on `self.backend`.
    pub async fn start_driver(&self, def: &TargetDef, ready_within: Duration) -> Result<Driver, TargetError> {
        match self.backend {
            Backend::Container => {
                let image = self.container_image(def).await?;
                crate::targets::container::start_driver(&image, &def.command, &def.name, ready_within)
                    .await
                    .map_err(|source| TargetError::Driver { name: def.name.clone(), source })
            }
            Backend::Process => {
                if let Some(fam) = self.catalog.family.get(&def.family) {
                    let root = self.root.clone();
                    let (name, fam) = (def.family.clone(), fam.clone());
                    tokio::task::spawn_blocking(move || prepare::prepare(&root, &name, &fam, false))
                        .await
                        .map_err(|e| TargetError::BadUrl(String::new(), e.to_string()))??;
                }
                Driver::start(&self.root, &def.command, ready_within)
                    .await
                    .map_err(|source| TargetError::Driver { name: def.name.clone(), source })
            }
        }
    }

    /// The image of the target's family (built on first use, cached by content); the engine
    /// is checked first. Bases: `SIOSPEC_CONTAINER_BASES`; extra CA: `SIOSPEC_EXTRA_CA`.
    pub async fn container_image(&self, def: &TargetDef) -> Result<String, TargetError> {
        use crate::containers as c;
        let err = |e: String| TargetError::Container(def.name.clone(), e);
        let (root, family) = (self.root.clone(), def.family.clone());
        let plan = tokio::task::spawn_blocking(move || -> Result<c::ImagePlan, String> {
            c::docker::engine()?;
            let manifest = c::Manifest::load(&root)?;
            c::plan(&root, &manifest, &family, c::Bases::from_env()?)
        })
        .await
        .map_err(|e| err(e.to_string()))?
        .map_err(err)?;
        let ca = c::extra_ca(None).map_err(err)?;
        c::ensure_image(&self.root, &plan, ca.as_deref(), &|m| eprintln!("{m}")).await.map_err(err)?;
        Ok(plan.tag)
    }

    /// Cases filtered by suite names and an id pattern (glob, or a substring when it has no `*`).
    pub fn select(&self, suites: &[String], pattern: Option<&str>) -> Result<Vec<Case>, String> {
        for s in suites {
            if !self.suites.cases.iter().any(|c| &c.suite == s) {
                return Err(format!("unknown suite `{s}`; suites: {}", self.suites.names().join(", ")));
            }
        }
        let glob = match pattern {
            Some(p) if p.contains(['*', '?', '[']) => {
                Some(globset::Glob::new(p).map_err(|e| format!("invalid --case pattern `{p}`: {e}"))?.compile_matcher())
            }
            _ => None,
        };
        Ok(self
            .suites
            .cases
            .iter()
            // Witness suites (`robust`) flood the server with hostile input: they run when
            // named (`--suite robust`) or when a `--case` pattern picks their cases, never as
            // part of a default run against someone's server.
            .filter(|c| if suites.is_empty() { !c.witness || pattern.is_some() } else { suites.contains(&c.suite) })
            .filter(|c| match (&glob, pattern) {
                (Some(g), _) => g.is_match(c.id()),
                (None, Some(p)) => c.id().contains(p),
                (None, None) => true,
            })
            .cloned()
            .collect())
    }
}
