//! The server under test as a child process: this very binary re-executed as
//! `loadgen serve-internal serve` (the real `openline serve`), or another server binary given
//! by path (`openline serve`, e.g. one built from an older commit), on a free loopback port,
//! with its store given by URL; its peak RSS read from `/proc/<pid>/status`.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper::Method;

use super::client::Conn;

/// The hidden subcommand that runs the real server in this binary.
pub const SERVE_INTERNAL: &str = "serve-internal";

/// A running server process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `openline serve` on a free loopback port over `store_url` (system clock, logs
    /// at `warn`, plus `env`). Call [`wait_ready`](Self::wait_ready) next.
    pub fn spawn(store_url: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::spawn_with(None, store_url, env, None)
    }

    /// Like [`spawn`](Self::spawn), but runs `bin serve` when a server binary is given (else
    /// this binary as the server), and writes the server's stderr (its log) to `log` when
    /// given (else it is inherited).
    pub fn spawn_with(
        bin: Option<&Path>,
        store_url: &str,
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let addr = free_port()?;
        let mut command = match bin {
            Some(bin) => {
                let mut command = Command::new(bin);
                command.arg("serve");
                command
            }
            None => {
                let mut command = Command::new(std::env::current_exe()?);
                command.args([SERVE_INTERNAL, "serve"]);
                command
            }
        };
        if let Some(log) = log {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .with_context(|| format!("cannot open {}", log.display()))?;
            command.stderr(file);
        }
        let child = command
            .envs(env.iter().copied())
            .env("OPENLINE__SERVER__LISTEN", addr.to_string())
            .env("OPENLINE__STORE__URL", store_url)
            .env("OPENLINE__CLOCK__MODE", "system")
            .env(
                "RUST_LOG",
                // `RUST_LOG` in `env` wins over `LOADGEN_SERVER_LOG`, then `warn`.
                env.iter()
                    .find(|(name, _)| *name == "RUST_LOG")
                    .map(|(_, value)| (*value).to_owned())
                    .or_else(|| std::env::var("LOADGEN_SERVER_LOG").ok())
                    .unwrap_or_else(|| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start the server process")?;
        Ok(Self { child, addr })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/readyz` answers 200 (at most `limit`); the time it took.
    pub async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the server exited during start-up: {status}");
            }
            let mut conn = Conn::new(self.addr);
            if let Ok(reply) = conn.send(Method::GET, "/readyz", None).await
                && reply.status == 200
            {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::bail!("the server was not ready within {limit:?}")
    }

    /// Peak resident set size so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        proc_status_kib(self.pid(), "VmHWM:").map(|kib| kib * 1024)
    }

    /// Current resident set size (VmRSS), in bytes.
    pub fn rss(&self) -> Option<u64> {
        proc_status_kib(self.pid(), "VmRSS:").map(|kib| kib * 1024)
    }

    /// CPU time used so far (user + system), in seconds (clock ticks of 10 ms).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    /// SIGKILL (a crash, not a clean stop), and reaps the process.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits for a graceful exit (at most 60 s, then SIGKILL).
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        anyhow::bail!("the server did not stop within 60 s after SIGTERM; killed")
    }
}

impl Drop for ServerProcess {
    /// A server left behind by an error is killed, not leaked (no effect once it exited).
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// A fresh, empty directory for one run's SQLite file, removed on drop.
#[derive(Debug)]
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// Creates `$TMPDIR/openline-loadgen-<pid>-<label>`.
    pub fn new(label: &str) -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("openline-loadgen-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    /// `sqlite://<dir>/<file>`.
    pub fn sqlite_url(&self, file: &str) -> String {
        format!("sqlite://{}", self.0.join(file).display())
    }

    /// Total size of the files in it, in bytes.
    pub fn size(&self) -> u64 {
        std::fs::read_dir(&self.0)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

impl Drop for ScratchDir {
    /// Removes the directory, unless `LOADGEN_KEEP_SCRATCH` is set (to read the server logs).
    fn drop(&mut self) {
        if std::env::var_os("LOADGEN_KEEP_SCRATCH").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
