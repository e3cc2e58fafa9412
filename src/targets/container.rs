//! The container backend: a target's driver runs in its family's image, started with
//! testcontainers on the host network, and is commanded over the same JSON-lines control
//! protocol as a local process.
//!
//! Control channel. testcontainers can keep a container's stdin open but cannot attach to it,
//! and a plain attach would not give the driver EOF when siospec dies. So the channel runs the
//! other way: siospec listens on 127.0.0.1 (an ephemeral port), the container (host network)
//! runs `siospec-bridge <driver command>` (containers/bridge.sh), which connects back, sends a
//! one-time token, and execs the driver with the socket as stdin and stdout. The driver is the
//! same program with the same argv; it sees EOF on stdin when siospec closes the socket or
//! exits for any reason, and then exits itself.
//!
//! No leftovers, in four layers: (1) `shutdown` closes the channel, waits for the driver to
//! exit and removes the container; (2) dropping the handle (an error, a panic, Ctrl-C)
//! removes it through testcontainers; (3) every container carries a per-launch label, and a
//! guard force-removes whatever carries it (also a container whose start was interrupted);
//! (4) containers are created with AutoRemove, so one whose driver exits (siospec killed
//! with SIGKILL: the socket closes) is removed by the engine itself.
use super::driver::{Driver, DriverError, RemoteHost};
use crate::containers::docker;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use testcontainers::core::logs::consumer::LogConsumer;
use testcontainers::core::logs::LogFrame;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How targets are launched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The driver command as a local process (the family's runtime installed here).
    #[default]
    Process,
    /// The driver command in the family's container image.
    Container,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Process => "process",
            Backend::Container => "container",
        }
    }
}

/// Label every container siospec starts carries (value: the launch id).
pub const LABEL: &str = "siospec.launch";

fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut s = String::new();
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
        h.write_u32(std::process::id());
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s
}

/// Force-removes the launch's containers when dropped, unless disarmed (synchronous: it must
/// also work while the runtime is being torn down).
struct LabelGuard {
    label: String,
    armed: bool,
}

impl Drop for LabelGuard {
    fn drop(&mut self) {
        if self.armed {
            docker::remove_labelled(&self.label);
        }
    }
}

/// Container logs (stdout and stderr of the bridge and driver; the driver's own stdout goes
/// to the control socket) into a pipe that feeds the driver's output tail.
struct ToPipe(tokio::sync::Mutex<tokio::io::DuplexStream>);

impl LogConsumer for ToPipe {
    fn accept<'a>(&'a self, record: &'a LogFrame) -> futures_util::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            let bytes = match record {
                LogFrame::StdOut(b) | LogFrame::StdErr(b) => b,
            };
            let mut w = self.0.lock().await;
            let _ = w.write_all(bytes).await;
        })
    }
}

/// A running container holding a driver.
struct ContainerHost {
    container: Option<ContainerAsync<GenericImage>>,
    guard: LabelGuard,
}

impl RemoteHost for ContainerHost {
    fn exit_status(&self) -> Pin<Box<dyn Future<Output = String> + Send + '_>> {
        Box::pin(async move {
            match &self.container {
                Some(c) => match c.exit_code().await {
                    Ok(Some(code)) => format!("container exited with code {code}"),
                    Ok(None) => "container still running".into(),
                    Err(_) => "container exited and was removed".into(),
                },
                None => "container gone".into(),
            }
        })
    }

    fn stop(mut self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            if let Some(c) = self.container.take() {
                // Force-remove (it may already be on its way out through AutoRemove).
                let _ = c.rm().await;
            }
            let label = self.guard.label.clone();
            let left = tokio::task::spawn_blocking(move || {
                docker::remove_labelled(&label);
                docker::containers_with_label(&label).is_empty()
            })
            .await
            .unwrap_or(false);
            if left {
                self.guard.armed = false;
            }
        })
    }
}

impl Drop for ContainerHost {
    fn drop(&mut self) {
        if let Some(c) = self.container.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                // testcontainers removes it (blocking in place on a multi-thread runtime).
                drop(c);
            } else {
                // No runtime to run testcontainers' removal on: the guard's CLI call does it;
                // forgetting the handle avoids its Drop, which needs a runtime.
                std::mem::forget(c);
            }
        }
        // then the guard (a field) force-removes anything left with the label
    }
}

fn spawn_err(command: &str, msg: impl Into<String>) -> DriverError {
    DriverError::Spawn { command: command.to_string(), source: std::io::Error::other(msg.into()) }
}

/// Starts `argv` (the catalog's driver command, run from /siospec) in `image` and returns
/// the driver once it printed its ready line.
pub async fn start_driver(image: &str, argv: &[String], target: &str, ready_within: Duration) -> Result<Driver, DriverError> {
    let command = format!("[container {image}] {}", argv.join(" "));
    let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let listener =
        TcpListener::bind("127.0.0.1:0").await.map_err(|e| spawn_err(&command, format!("cannot listen for the control channel: {e}")))?;
    let port = listener.local_addr().map_err(|e| spawn_err(&command, e.to_string()))?.port();
    let token = random_hex();
    let launch = random_hex();
    let guard = LabelGuard { label: format!("{LABEL}={launch}"), armed: true };
    let (log_w, log_r) = tokio::io::duplex(64 * 1024);
    let mut cmd: Vec<String> = vec!["siospec-bridge".into()];
    cmd.extend(argv.iter().cloned());
    let req = GenericImage::new(name, tag)
        .with_cmd(cmd)
        .with_network("host")
        .with_working_dir("/siospec")
        .with_env_var("SIOSPEC_CONTROL_PORT", port.to_string())
        .with_env_var("SIOSPEC_CONTROL_TOKEN", token.clone())
        .with_label(LABEL, launch.clone())
        .with_label("siospec.target", target)
        .with_label("siospec.pid", std::process::id().to_string())
        .with_log_consumer(ToPipe(tokio::sync::Mutex::new(log_w)))
        .with_host_config_modifier(|hc| hc.auto_remove = Some(true))
        .with_startup_timeout(ready_within.max(Duration::from_secs(30)));
    let deadline = tokio::time::Instant::now() + ready_within;
    let container = req.start().await.map_err(|e| spawn_err(&command, format!("cannot start the container: {e}")))?;
    let host = ContainerHost { container: Some(container), guard };
    // The bridge connects back and proves it is ours with the token.
    let stream = loop {
        let accepted = tokio::select! {
            a = tokio::time::timeout_at(deadline, listener.accept()) => Some(a),
            _ = exited(&host) => None,
        };
        let (mut sock, _) = match accepted {
            Some(Ok(Ok(s))) => s,
            Some(Ok(Err(e))) => return Err(spawn_err(&command, format!("control channel: {e}"))),
            Some(Err(_)) => {
                let tail = read_available(log_r).await;
                return Err(DriverError::NotReady { command, ms: ready_within.as_millis() as u64, tail });
            }
            None => {
                let status = host.exit_status().await;
                let tail = read_available(log_r).await;
                return Err(DriverError::Exited { command, status, tail });
            }
        };
        let mut first = Vec::new();
        let got = tokio::time::timeout(Duration::from_secs(5), async {
            // Byte by byte, so nothing after the token line (the ready line) is consumed here.
            let mut byte = [0u8; 1];
            while first.len() < 128 {
                match tokio::io::AsyncReadExt::read(&mut sock, &mut byte).await {
                    Ok(1) if byte[0] == b'\n' => return true,
                    Ok(1) => first.push(byte[0]),
                    _ => return false,
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        if got && first == token.as_bytes() {
            break sock;
        }
        // Not our bridge: drop it and keep waiting.
    };
    let (rd, wr) = stream.into_split();
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_millis(500));
    Driver::attach(command, Box::new(rd), Box::new(wr), Some(Box::new(log_r)), Box::new(host), remaining).await
}

/// Resolves when the container is no longer running (polled).
async fn exited(host: &ContainerHost) {
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        match &host.container {
            Some(c) => match c.is_running().await {
                Ok(true) => continue,
                _ => return,
            },
            None => return,
        }
    }
}

/// Whatever the container logged so far (for an error message).
async fn read_available(r: tokio::io::DuplexStream) -> String {
    let mut lines = Vec::new();
    let mut r = BufReader::new(r).lines();
    while let Ok(Ok(Some(l))) = tokio::time::timeout(Duration::from_millis(200), r.next_line()).await {
        lines.push(format!("log: {l}"));
        if lines.len() > 30 {
            lines.remove(0);
        }
    }
    lines.join("\n")
}
