//! Starting the real server as a subprocess: a temp directory, a config file, a free loopback
//! port, a health wait, SIGKILL and restart on the same database, kill on drop.

use std::collections::HashSet;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::db::Backend;
use crate::http;

/// The server binary built by this package (`[[bin]] openline-under-test`).
///
/// `env!("CARGO_BIN_EXE_openline-under-test")` exists only while compiling an integration test,
/// not this library, so the library looks where cargo puts it: next to the `deps/` folder that
/// holds the running test executable (or where `CARGO_BIN_EXE_…` says at run time, as nextest
/// sets it). `tests/cli_config.rs` checks that this is the path `env!` names.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_openline-under-test") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("path of the running test");
    let mut dir = exe
        .parent()
        .expect("test executable in a folder")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(format!(
        "openline-under-test{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        path.exists(),
        "{} not built: run the tests with `cargo test -p openline-tests`",
        path.display()
    );
    path
}

/// The plugin settings every test server gets unless a test says otherwise: Working Time
/// management applies only to the group `shift`, so that agents outside it are routed by
/// presence (SPEC R5; without the key WTM would apply to everyone).
pub const DEFAULT_PLUGINS: &str = "[plugins.timesheet]\ngroups = [\"shift\"]\n";

/// A unique, human-readable suffix for names of temp dirs and databases.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system temp dir.
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("openline-t-{}", unique_suffix()));
        fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        drop(fs::remove_dir_all(&self.0));
    }
}

/// A loopback port that was free a moment ago and that this process never handed out before.
pub fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(Mutex::default);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind an ephemeral port")
            .port();
        if given.lock().expect("port set").insert(port) {
            return port;
        }
    }
}

/// How to start a test server.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    clock: String,
    plugins: String,
    extra: String,
    server_table: String,
    env: Vec<(String, String)>,
    backend: Backend,
    listen_via_env: bool,
    config_file: bool,
    program: Option<PathBuf>,
    seed: Option<PathBuf>,
    store_url: Option<String>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            clock: "manual".into(),
            plugins: DEFAULT_PLUGINS.into(),
            extra: String::new(),
            server_table: String::new(),
            env: Vec::new(),
            backend: Backend::Sqlite,
            listen_via_env: false,
            config_file: true,
            program: None,
            seed: None,
            store_url: None,
        }
    }
}

impl ServerBuilder {
    /// `[clock] mode`.
    pub fn clock(mut self, mode: &str) -> Self {
        self.clock = mode.into();
        self
    }

    /// Replaces the `[plugins.*]` sections (default: [`DEFAULT_PLUGINS`]).
    pub fn plugins(mut self, toml: &str) -> Self {
        self.plugins = toml.into();
        self
    }

    /// Adds a `key = value` line to the `[server]` table (e.g. `cors_origins = [...]`).
    pub fn server_setting(mut self, line: &str) -> Self {
        self.server_table.push_str(line);
        self.server_table.push('\n');
        self
    }

    /// Appends TOML (e.g. `[[channels]]` tables) after everything else.
    pub fn extra(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        self
    }

    /// Sets an environment variable for the server process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Listen on a port given by `OPENLINE__SERVER__LISTEN` while the config file names
    /// another (free, unused) port: the environment must win.
    pub fn listen_via_env(mut self) -> Self {
        self.listen_via_env = true;
        self
    }

    /// Run `serve` without `--config` (built-in defaults plus environment); implies
    /// [`Self::listen_via_env`] so that the test never binds the default port 8080.
    pub fn without_config_file(mut self) -> Self {
        self.config_file = false;
        self.listen_via_env = true;
        self
    }

    /// Runs `program` instead of this package's server, e.g. a custom binary that links
    /// its own sources (SPEC R34).
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Starts on a copy of the SQLite store `file` (e.g. one written by an older version)
    /// instead of a fresh one.
    pub fn seed_store(mut self, file: impl Into<PathBuf>) -> Self {
        self.seed = Some(file.into());
        self
    }

    /// The store (default: a fresh SQLite file in the server's temp dir).
    pub fn backend(mut self, backend: &Backend) -> Self {
        self.backend = backend.clone();
        self
    }

    /// Uses the store of `other` (its SQLite file or PostgreSQL database): a second server on
    /// one store is a standby until the first one stops (SPEC R23).
    pub fn store_of(mut self, other: &Server) -> Self {
        self.store_url = Some(other.store_url.clone());
        self
    }

    /// Starts the server and waits until `/healthz` answers 200.
    pub fn start(self) -> Server {
        let mut server = self.prepare();
        server.spawn();
        server
    }

    /// Starts a server on a store another one holds (see [`Self::store_of`]) and waits until
    /// it follows the log as a hot standby (SPEC R23b); it serves once it took over
    /// ([`Server::wait_serving`]).
    #[track_caller]
    pub fn start_standby(self) -> Server {
        let mut server = self.prepare();
        server.spawn_standby();
        server
    }

    fn prepare(self) -> Server {
        let dir = TempDir::new();
        if let Some(seed) = &self.seed {
            fs::copy(seed, dir.path().join("openline.db")).expect("copy the seed store");
        }
        let store_url = self.store_url.clone().unwrap_or_else(|| {
            self.backend
                .url()
                .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("openline.db").display()))
        });
        Server {
            child: None,
            port: 0,
            dir,
            store_url,
            settings: self,
            token: None,
        }
    }
}

/// A running openline server (killed on drop).
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// The loopback port it listens on.
    pub port: u16,
    dir: TempDir,
    store_url: String,
    settings: ServerBuilder,
    token: Option<String>,
}

impl Server {
    /// Starts a server with the defaults: manual clock, fresh SQLite, [`DEFAULT_PLUGINS`].
    pub fn start() -> Self {
        ServerBuilder::default().start()
    }

    /// A builder for non-default servers.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Presents `token` on every request of the harness from now on (none: no
    /// `Authorization`, the local mode's unauthenticated caller).
    pub fn set_token(&mut self, token: Option<&str>) {
        self.token = token.map(str::to_owned);
    }

    /// The token the harness presents, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The server's working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The config file text for `port`.
    pub fn config_text(&self, port: u16) -> String {
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n{}[store]\nurl = \"{}\"\n[clock]\nmode = \"{}\"\n{}\n{}\n",
            self.settings.server_table,
            self.store_url,
            self.settings.clock,
            self.settings.plugins,
            self.settings.extra
        )
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The last lines the server printed.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn spawn(&mut self) {
        let mut last_error = String::new();
        for _attempt in 0..3 {
            self.spawn_at(free_port());
            match self.wait_healthy() {
                Ok(()) => return,
                Err(e) => {
                    last_error = e;
                    self.kill();
                }
            }
        }
        panic!(
            "server did not start: {last_error}\n--- server log ---\n{}",
            self.log_tail()
        );
    }

    /// Starts the process to listen on `port`, without waiting for it.
    fn spawn_at(&mut self, port: u16) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut cmd = match &self.settings.program {
            Some(program) => clean_command_of(program.clone()),
            None => clean_command(),
        };
        cmd.arg("serve").current_dir(self.dir.path());
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        if self.settings.config_file {
            let config = self.dir.path().join("openline.toml");
            let file_port = if self.settings.listen_via_env {
                free_port()
            } else {
                port
            };
            fs::write(&config, self.config_text(file_port)).expect("write config");
            cmd.arg("--config").arg(&config);
        }
        if self.settings.listen_via_env {
            cmd.env("OPENLINE__SERVER__LISTEN", format!("127.0.0.1:{port}"));
        }
        for (k, v) in &self.settings.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn openline-under-test");
        self.child = Some(child);
        self.port = port;
    }

    /// SIGKILL, then start again as a standby of the server that holds the store now.
    #[track_caller]
    pub fn crash_and_restart_as_standby(&mut self) {
        self.kill();
        self.spawn_standby();
    }

    /// Starts the process and waits until it says it follows the log as a standby.
    #[track_caller]
    fn spawn_standby(&mut self) {
        const FOLLOWING: &str = "standby following the log";
        let full_log = |server: &Self| fs::read_to_string(server.log_path()).unwrap_or_default();
        let before = full_log(self).matches(FOLLOWING).count();
        self.spawn_at(free_port());
        let deadline = Instant::now() + Duration::from_secs(30);
        while full_log(self).matches(FOLLOWING).count() == before {
            assert!(
                Instant::now() < deadline && self.exit_status().is_none(),
                "the standby did not follow the log:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded: 30 s) until a standby took over and serves.
    #[track_caller]
    pub fn wait_serving(&mut self) {
        if let Err(error) = self.wait_healthy() {
            panic!("{error}\n--- server log ---\n{}", self.log_tail());
        }
    }

    /// The process's exit status once it has ended by itself.
    fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Polls `/healthz` (bounded, ~30 s) while checking that the process is alive.
    fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status() {
                return Err(format!("server exited with {status}"));
            }
            if http::send(self.port, "GET", "/healthz", None).is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("no 200 from /healthz within 30 s".into())
    }

    /// Whether the process is still running (R20: no input stops it).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL (no graceful shutdown) and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.kill());
            drop(child.wait());
        }
    }

    /// SIGTERM (graceful shutdown); see [`Server::wait_exit`] for how it ended.
    pub fn terminate(&mut self) {
        let child = self.child.as_ref().expect("a running server");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run `kill -TERM`");
        assert!(status.success(), "`kill -TERM` failed: {status}");
    }

    /// SIGKILL, then start again on the same database and config (a new port).
    pub fn crash_and_restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Sets (or with `None` removes) an environment variable for the next starts.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.settings.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.settings.env.push((key.into(), value.into()));
        }
    }

    /// SIGKILL, then a start that takes a snapshot at once (every logged record is due) and
    /// dies at `point` of it (`snapshot:copied`, `snapshot:written`, `snapshot:compacted`, see
    /// the server's `OPENLINE_CRASH_AT`). The server is left stopped: restart it with
    /// [`Server::crash_and_restart`].
    #[track_caller]
    pub fn crash_in_snapshot(&mut self, point: &str) {
        self.set_env("OPENLINE__STORE__SNAPSHOT_RECORDS", Some("1"));
        self.set_env("OPENLINE_CRASH_AT", Some(point));
        self.crash_and_restart();
        assert!(
            self.wait_exit().is_some(),
            "the server did not die at {point}"
        );
        let log = self.log_tail();
        assert!(log.contains(&format!("OPENLINE_CRASH_AT={point}")), "{log}");
        self.set_env("OPENLINE_CRASH_AT", None);
        self.set_env("OPENLINE__STORE__SNAPSHOT_RECORDS", None);
    }

    /// The store's URL.
    pub fn store_url(&self) -> &str {
        &self.store_url
    }

    /// Runs `sql` on the store over a connection of its own (e.g. to stand for time that
    /// passed while the server was stopped).
    pub fn store_execute(&self, sql: &str) {
        crate::db::execute_on(&self.store_url, sql)
            .unwrap_or_else(|e| panic!("`{sql}` on the store: {e}"));
    }

    /// Waits (bounded: 30 s) for the process to end by itself; its exit status, `None` if it
    /// is still running.
    pub fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Asserts the server's log does not say `needle` (e.g. a warning that must not appear).
    #[track_caller]
    pub fn assert_log_lacks(&self, needle: &str) {
        let log = self.log_tail();
        assert!(!log.contains(needle), "`{needle}` in the log:\n{log}");
    }

    /// SIGKILL, then start again on the same database with other `[plugins.*]` sections.
    pub fn crash_and_restart_with_plugins(&mut self, toml: &str) {
        self.settings.plugins = toml.into();
        self.crash_and_restart();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- server log (port {}) ---\n{}",
                self.port,
                self.log_tail()
            );
        }
        self.kill();
    }
}

/// The binary as a command without any inherited `OPENLINE*` variable (so that a developer's
/// shell cannot change what a test configures).
fn clean_command() -> Command {
    clean_command_of(binary())
}

/// `program` as a command without any inherited `OPENLINE*` variable.
fn clean_command_of(program: PathBuf) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OPENLINE") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Writes `config` to `dir/name` and runs `openline serve` on it, which must refuse to start;
/// what it printed.
#[track_caller]
pub fn serve_refused(dir: &Path, name: &str, config: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, config).expect("write the config file");
    let path = path.to_str().expect("a UTF-8 temp path");
    let (ok, out) = run_cli(dir, &["serve", "--config", path], &[]);
    assert!(!ok, "`openline serve` should refuse to start: {out}");
    out
}

/// Runs `openline token create --config CONFIG --role ROLE --name NAME` in `dir`, as an
/// operator would beside a running server; it must succeed. The new token's secret (the last
/// line printed).
#[track_caller]
pub fn cli_create_token(dir: &Path, config: &Path, role: &str, name: &str) -> String {
    let config = config.to_str().expect("a UTF-8 config path");
    let args = [
        "token", "create", "--config", config, "--role", role, "--name", name,
    ];
    let (ok, out) = run_cli(dir, &args, &[]);
    assert!(ok, "`openline {}` failed: {out}", args.join(" "));
    out.lines().last().unwrap_or_default().trim().to_owned()
}

/// Runs the CLI with arguments in `dir` (bounded: 60 s); returns (success, stdout + stderr).
pub fn run_cli(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out_path = dir.join(format!("cli-{}.out", unique_suffix()));
    let out = fs::File::create(&out_path).expect("cli output file");
    let mut cmd = clean_command();
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    cmd.stdout(out.try_clone().expect("cli output")).stderr(out);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run openline-under-test");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the cli") {
            break status;
        }
        if Instant::now() > deadline {
            drop(child.kill());
            drop(child.wait());
            panic!("`openline {}` did not finish within 60 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.success(),
        fs::read_to_string(&out_path).unwrap_or_default(),
    )
}
