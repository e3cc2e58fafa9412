//! The run settings, resolved in one place: command-line flag > `SIOSPEC_*` environment
//! variable > the `[run]` table of `siospec.toml` in the current directory > default.
//! `siospec run -v` prints where each value came from.
use std::fmt;
use std::path::{Path, PathBuf};

/// The file a project (or a CI job) keeps its settings in, in the directory siospec runs from.
pub const FILE: &str = "siospec.toml";

/// Where a value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File(PathBuf),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(name) => write!(f, "flag {name}"),
            Source::Env(name) => write!(f, "environment {name}"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub from: Source,
}

/// What the command line gave (None: not given).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub time_scale: Option<f64>,
    pub jobs: Option<usize>,
    pub retries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Stretches every deadline of the harness (never the protocol timers).
    pub time_scale: Setting<f64>,
    /// Cases (matrix: scenario plays) in flight at once.
    pub jobs: Setting<usize>,
    /// More attempts for an unexpected result (`siospec run` only).
    pub retries: Setting<u32>,
}

pub const DEFAULT_TIME_SCALE: f64 = 1.0;
pub const DEFAULT_JOBS: usize = 16;
pub const DEFAULT_RETRIES: u32 = 0;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{from}: `{key}` must be {rule}, got `{value}`")]
    Invalid { from: Source, key: &'static str, rule: &'static str, value: String },
    #[error("{file}: {message}")]
    File { file: PathBuf, message: String },
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    #[serde(default)]
    run: RunTable,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunTable {
    time_scale: Option<f64>,
    jobs: Option<usize>,
    retries: Option<u32>,
}

impl Settings {
    /// Resolves from the process's environment and `./siospec.toml`.
    pub fn resolve(flags: &Flags) -> Result<Settings, SettingsError> {
        let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Settings::resolve_with(flags, &|k| std::env::var(k).ok(), &dir)
    }

    /// The same with the environment and the directory given (tests do not touch the process's).
    pub fn resolve_with(flags: &Flags, env: &dyn Fn(&str) -> Option<String>, dir: &Path) -> Result<Settings, SettingsError> {
        let path = dir.join(FILE);
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str::<FileSettings>(&text)
                    .map_err(|e| SettingsError::File { file: path.clone(), message: e.message().trim().to_string() })?
                    .run
            }
            Err(_) => RunTable::default(),
        };
        let time_scale = pick(
            ("--time-scale", flags.time_scale),
            "SIOSPEC_TIME_SCALE",
            env,
            (file.time_scale, &path),
            DEFAULT_TIME_SCALE,
            "time_scale",
        )?;
        check(&time_scale, "time_scale", "a positive number", |v| *v > 0.0 && v.is_finite())?;
        let jobs = pick(("--jobs", flags.jobs), "SIOSPEC_JOBS", env, (file.jobs, &path), DEFAULT_JOBS, "jobs")?;
        check(&jobs, "jobs", "at least 1", |v| *v >= 1)?;
        let retries = pick(("--retries", flags.retries), "SIOSPEC_RETRIES", env, (file.retries, &path), DEFAULT_RETRIES, "retries")?;
        Ok(Settings { time_scale, jobs, retries })
    }

    /// One line per setting, for `-v`.
    pub fn describe(&self) -> String {
        format!(
            "settings: time_scale = {} ({}); jobs = {} ({}); retries = {} ({})",
            self.time_scale.value, self.time_scale.from, self.jobs.value, self.jobs.from, self.retries.value, self.retries.from
        )
    }
}

fn pick<T: std::str::FromStr + fmt::Display + Copy>(
    flag: (&'static str, Option<T>),
    var: &'static str,
    env: &dyn Fn(&str) -> Option<String>,
    file: (Option<T>, &Path),
    default: T,
    key: &'static str,
) -> Result<Setting<T>, SettingsError> {
    if let Some(value) = flag.1 {
        return Ok(Setting { value, from: Source::Flag(flag.0) });
    }
    if let Some(raw) = env(var).filter(|s| !s.trim().is_empty()) {
        return match raw.trim().parse() {
            Ok(value) => Ok(Setting { value, from: Source::Env(var) }),
            Err(_) => Err(SettingsError::Invalid { from: Source::Env(var), key, rule: "a number", value: raw }),
        };
    }
    if let Some(value) = file.0 {
        return Ok(Setting { value, from: Source::File(file.1.to_path_buf()) });
    }
    Ok(Setting { value: default, from: Source::Default })
}

fn check<T: fmt::Display>(s: &Setting<T>, key: &'static str, rule: &'static str, ok: impl Fn(&T) -> bool) -> Result<(), SettingsError> {
    if ok(&s.value) {
        Ok(())
    } else {
        Err(SettingsError::Invalid { from: s.from.clone(), key, rule, value: s.value.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str, file: Option<&str>) -> PathBuf {
        let d = std::env::temp_dir().join(format!("siospec-settings-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        if let Some(f) = file {
            std::fs::write(d.join(FILE), f).unwrap();
        }
        d
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let d = dir("order", Some("[run]\ntime_scale = 3.0\njobs = 5\nretries = 2\n"));
        let e = env(&[("SIOSPEC_TIME_SCALE", "2"), ("SIOSPEC_JOBS", "7")]);
        let s = Settings::resolve_with(&Flags { time_scale: Some(4.0), ..Flags::default() }, &e, &d).unwrap();
        assert_eq!(s.time_scale, Setting { value: 4.0, from: Source::Flag("--time-scale") });
        assert_eq!(s.jobs, Setting { value: 7, from: Source::Env("SIOSPEC_JOBS") });
        assert_eq!(s.retries, Setting { value: 2, from: Source::File(d.join(FILE)) });
        let none = Settings::resolve_with(&Flags::default(), &env(&[]), &dir("none", None)).unwrap();
        assert_eq!(none.time_scale.from, Source::Default);
        assert_eq!((none.time_scale.value, none.jobs.value, none.retries.value), (1.0, 16, 0));
        assert!(none.describe().contains("time_scale = 1 (default)"), "{}", none.describe());
    }

    #[test]
    fn bad_values_name_where_they_came_from() {
        let d = dir("bad", None);
        let err = Settings::resolve_with(&Flags::default(), &env(&[("SIOSPEC_TIME_SCALE", "fast")]), &d).unwrap_err();
        assert_eq!(err.to_string(), "environment SIOSPEC_TIME_SCALE: `time_scale` must be a number, got `fast`");
        let err = Settings::resolve_with(&Flags { time_scale: Some(0.0), ..Flags::default() }, &env(&[]), &d).unwrap_err();
        assert_eq!(err.to_string(), "flag --time-scale: `time_scale` must be a positive number, got `0`");
        let d = dir("badfile", Some("[run]\njobz = 3\n"));
        let err = Settings::resolve_with(&Flags::default(), &env(&[]), &d).unwrap_err().to_string();
        assert!(err.contains("siospec.toml") && err.contains("jobz"), "{err}");
        let d = dir("zerojobs", Some("[run]\njobs = 0\n"));
        let err = Settings::resolve_with(&Flags::default(), &env(&[]), &d).unwrap_err().to_string();
        assert!(err.ends_with("siospec.toml: `jobs` must be at least 1, got `0`"), "{err}");
    }
}
