//! What this machine has: the lowest layer, used by preparation and by image recipes alike.

/// Whether `prog` is an executable file in one of `PATH`'s directories.
pub fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file())).unwrap_or(false)
}
