//! Test helper: a throwaway PostgreSQL cluster (`initdb` + `postgres`) on a free loopback port,
//! for the tests and the bench (not part of the sync API).

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::PostgresTls;

/// The command that installs the server binaries on Debian and Ubuntu, for error messages.
///
/// ```
/// assert!(mqsync::sync::postgres_testing::INSTALL_HINT.contains("postgresql"));
/// ```
pub const INSTALL_HINT: &str = "apt-get install -y postgresql-15";

/// The login role of every [`PostgresServer`], a superuser.
pub const USER: &str = "mqsync";

/// How long a dropped server gets for a fast shutdown before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A private PostgreSQL cluster: `initdb` in a temporary directory, `postgres` listening on
/// `127.0.0.1:<free port>` (and a Unix socket in that directory), password authentication for
/// [`USER`] over TCP with a random password per cluster ([`password`](Self::password)), so that
/// a test can never log in to another test's cluster that reused its port, `fsync = off` unless
/// started with [`start_durable`](Self::start_durable) (a killed *server* loses nothing it
/// acknowledged either way: its WAL is written to the OS before a commit returns; only an OS
/// crash could). On drop: a fast shutdown (SIGINT to its process group, up to 5 s, so that the
/// server releases its SysV shared memory), then SIGKILL if it did not stop; its directory is
/// removed. If this process dies without dropping it (killed, or a `static`), a small watchdog
/// (`sh`, reading a pipe this process holds, deaf to SIGINT, SIGTERM and SIGHUP) sees the pipe
/// close and does the same, so no cluster outlives its test (a process group of its own, so
/// that signals sent to the test's group do not reach it).
///
/// [`start_tls`](Self::start_tls) starts one that takes TCP logins over TLS only, with a
/// certificate its own throwaway CA signed ([`ca_pem`](Self::ca_pem)).
///
/// `initdb` refuses to run as root: as root, the cluster's directory is handed to the
/// `postgres` user and both programs run as that user.
///
/// ```no_run
/// use mqsync::sync::postgres_testing::PostgresServer;
///
/// let server = PostgresServer::start()?;
/// println!("listening at {}", server.url());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PostgresServer {
    /// The postmaster; `None` while stopped or killed.
    child: Option<Child>,
    port: u16,
    /// [`USER`]'s password, random per cluster.
    password: String,
    bin: PathBuf,
    /// The `postgres` user's ids when we run as root.
    run_as: Option<(u32, u32)>,
    dir: tempfile::TempDir,
    /// `fsync` and `full_page_writes` on ([`start_durable`](Self::start_durable)).
    durable: bool,
    /// The CA that signed the server's certificate, PEM; `Some` for a TLS-only server.
    ca_pem: Option<Vec<u8>>,
    /// The watchdog of the running postmaster (see the type's docs); `None` while stopped.
    watchdog: Option<Child>,
}

impl PostgresServer {
    /// The directory that holds `initdb` and `postgres`: on `PATH`, or Debian's
    /// `/usr/lib/postgresql/<version>/bin` (the newest), which is not on `PATH`.
    ///
    /// ```
    /// if let Some(bin) = mqsync::sync::postgres_testing::PostgresServer::bin_dir() {
    ///     assert!(bin.join("initdb").exists());
    /// }
    /// ```
    pub fn bin_dir() -> Option<PathBuf> {
        let on_path = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        });
        on_path.or_else(|| {
            let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let version = entry.file_name().to_str()?.parse().ok()?;
                    let bin = entry.path().join("bin");
                    bin.join("initdb").is_file().then_some((version, bin))
                })
                .collect();
            versions.sort();
            versions.pop().map(|(_, bin)| bin)
        })
    }

    /// Whether a cluster can be started (`initdb` and `postgres` were found).
    ///
    /// ```
    /// use mqsync::sync::postgres_testing::PostgresServer;
    ///
    /// if !PostgresServer::available() {
    ///     eprintln!("no PostgreSQL: the PostgreSQL tests will say so");
    /// }
    /// ```
    pub fn available() -> bool {
        Self::bin_dir().is_some()
    }

    /// Creates a cluster, starts it on a free loopback port and waits until it accepts
    /// [`USER`]. Fails with a message naming the install command when the binaries are missing.
    pub fn start() -> io::Result<PostgresServer> {
        Self::start_with(false, false)
    }

    /// As [`start`](Self::start), but TCP logins only over TLS (`hostssl` in `pg_hba.conf`,
    /// nothing for plain TCP), with a server certificate for `127.0.0.1` and `localhost`
    /// signed by a CA made for this cluster alone (`openssl`, which Debian's PostgreSQL
    /// package pulls in); [`ca_pem`](Self::ca_pem) is that CA, to trust with
    /// [`PostgresTls::from_ca_pem`](crate::sync::PostgresTls::from_ca_pem).
    ///
    /// ```no_run
    /// use mqsync::sync::{PostgresSchema, PostgresSink, PostgresTls};
    /// use mqsync::sync::postgres_testing::PostgresServer;
    ///
    /// let server = PostgresServer::start_tls()?;
    /// let tls = PostgresTls::from_ca_pem(server.ca_pem().unwrap())?;
    /// let sink = PostgresSink::connect_tls(&server.url(), tls, PostgresSchema::builder("t").build()?, "log")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_tls() -> io::Result<PostgresServer> {
        Self::start_with(false, true)
    }

    /// The PEM of the CA that signed this server's certificate ([`start_tls`](Self::start_tls));
    /// `None` for a server without TLS.
    ///
    /// ```no_run
    /// let server = mqsync::sync::postgres_testing::PostgresServer::start_tls()?;
    /// assert!(server.ca_pem().is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref()
    }

    /// As [`start`](Self::start), but with PostgreSQL's defaults for durability: `fsync` and
    /// `full_page_writes` on, so that every commit waits for its WAL to reach the disk, as on a
    /// production server (for benchmarks that count commits; slower to test with).
    ///
    /// ```no_run
    /// let server = mqsync::sync::postgres_testing::PostgresServer::start_durable()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start_durable() -> io::Result<PostgresServer> {
        Self::start_with(true, false)
    }

    fn start_with(durable: bool, tls: bool) -> io::Result<PostgresServer> {
        let Some(bin) = Self::bin_dir() else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "PostgreSQL's initdb is neither on PATH nor in /usr/lib/postgresql/*/bin: \
                     install it with `{INSTALL_HINT}`"
                ),
            ));
        };
        let run_as = if is_root() {
            Some(postgres_user()?)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!("mqsync-postgres-{}-", std::process::id()))
            .tempdir()?;
        let password = random_password()?;
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, &password)?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&password_file, Some(uid), Some(gid))?;
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-U", USER, "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", password_file.display()));
        let out = as_user(&mut initdb, run_as)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run initdb: {e}")))?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let ca_pem = if tls {
            // TCP logins over TLS only: `hostssl` lines, and no `host` line that would take a
            // plain one.
            std::fs::write(
                dir.path().join("data").join("pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 scram-sha-256\n\
                 hostssl all all ::1/128 scram-sha-256\n",
            )?;
            Some(make_certificates(dir.path(), run_as)?)
        } else {
            None
        };
        let mut server = PostgresServer {
            child: None,
            port: 0,
            password,
            bin,
            run_as,
            dir,
            durable,
            ca_pem,
            watchdog: None,
        };
        let mut last_error = None;
        for _ in 0..5 {
            server.port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = Some(e), // the port was taken meanwhile: try another
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("postgres did not start")))
    }

    /// `postgres://mqsync:<password>@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.url_for(USER, &self.password)
    }

    /// [`USER`]'s password on this cluster (random, made by `start`).
    ///
    /// ```no_run
    /// let server = mqsync::sync::postgres_testing::PostgresServer::start()?;
    /// assert!(server.url().contains(server.password()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The URL of this server for another login (to test refused ones).
    ///
    /// ```no_run
    /// # let server = mqsync::sync::postgres_testing::PostgresServer::start()?;
    /// let wrong = server.url_for("mqsync", "not-the-password");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn url_for(&self, user: &str, password: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/postgres?connect_timeout=5",
            self.port
        )
    }

    /// A connected client (as [`USER`]; over TLS, trusting [`ca_pem`](Self::ca_pem), for a
    /// [`start_tls`](Self::start_tls) server).
    pub fn client(&self) -> Result<postgres::Client, postgres::Error> {
        let mut config: postgres::Config = self.url().parse()?;
        self.connect(&mut config)
    }

    /// `config` connected, over TLS for a TLS-only server.
    fn connect(&self, config: &mut postgres::Config) -> Result<postgres::Client, postgres::Error> {
        match self.ca_pem.as_deref().map(PostgresTls::from_ca_pem) {
            Some(Ok(tls)) => config
                .ssl_mode(postgres::config::SslMode::Require)
                .connect(tls.connector()),
            // Not reached: `start_tls` made the PEM. A plain attempt fails with the server's
            // refusal, which names the cause well enough.
            Some(Err(_)) | None => config.connect(postgres::NoTls),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (`data/` holds the cluster; the Unix socket sits beside it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server and its backends at once (SIGKILL to the process group: no shutdown,
    /// as in a crash). [`restart`](Self::restart) then runs crash recovery, and finds
    /// everything a commit acknowledged.
    pub fn kill(&mut self) {
        let mut child = self.child.take();
        // Only while it runs: once reaped, its process group id may belong to another.
        if let Some(running) = child.as_mut() {
            if matches!(running.try_wait(), Ok(None)) {
                signal_group(running.id(), "KILL");
            }
        }
        // Stand the watchdog down while the unreaped postmaster still holds its id.
        self.stand_down();
        if let Some(mut child) = child {
            let _ = child.wait();
            // Its lock file, if the kill left one, names a dead process: gone, so that a
            // watchdog never reads it for a later postmaster's id.
            let _ = std::fs::remove_file(self.dir.path().join("data").join("postmaster.pid"));
        }
    }

    /// Tells the watchdog, if any, that there is nothing left to stop, and waits for it.
    fn stand_down(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            use io::Write;
            // A line, not the end of input: stand down.
            if let Some(stdin) = watchdog.stdin.as_mut() {
                let _ = stdin.write_all(b"done\n").and_then(|()| stdin.flush());
            }
            let _ = watchdog.wait();
        }
    }

    /// Stops the server (a fast shutdown: SIGINT, connections are cut, nothing is lost) and
    /// starts it again on the same port and directory; waits until it accepts [`USER`].
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop(Duration::from_secs(20));
        self.launch()
    }

    /// A fast shutdown (SIGINT to the process group: connections are cut, shared memory is
    /// released), waiting up to `grace`; then [`kill`](Self::kill), which reaps it or kills it
    /// if it did not stop.
    fn stop(&mut self, grace: Duration) {
        if let Some(child) = self.child.as_mut() {
            signal_group(child.id(), "INT");
            let deadline = Instant::now() + grace;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }

    /// Starts `postgres` in the foreground as our child, in a process group of its own (so
    /// that [`kill`](Self::kill) reaches its backends too), and waits until it accepts logins.
    /// A restart right after a kill can meet the killed backends' shared memory for a moment:
    /// it is retried until the deadline.
    fn launch(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut command = Command::new(self.bin.join("postgres"));
            command
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-p", &self.port.to_string()])
                .args(["-c", "listen_addresses=127.0.0.1"])
                .arg("-c")
                .arg(format!(
                    "unix_socket_directories={}",
                    self.dir.path().display()
                ))
                .args(if self.durable {
                    ["-c", "fsync=on", "-c", "full_page_writes=on"]
                } else {
                    ["-c", "fsync=off", "-c", "full_page_writes=off"]
                })
                .args(["-c", "max_connections=50", "-c", "shared_buffers=32MB"])
                .process_group(0);
            if self.ca_pem.is_some() {
                let file = |name: &str| self.dir.path().join(name).display().to_string();
                command
                    .args(["-c", "ssl=on"])
                    .arg("-c")
                    .arg(format!("ssl_cert_file={}", file("server.crt")))
                    .arg("-c")
                    .arg(format!("ssl_key_file={}", file("server.key")));
            }
            // The watchdog first: from the postmaster's first moment, something outlives us.
            self.watchdog = Some(self.watch()?);
            let spawned = as_user(&mut command, self.run_as)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) => {
                    self.stand_down();
                    return Err(e);
                }
            };
            if let Some(stdin) = self.watchdog.as_mut().and_then(|w| w.stdin.as_mut()) {
                use io::Write;
                let _ = writeln!(stdin, "{}", child.id()).and_then(|()| stdin.flush());
            }
            self.child = Some(child);
            loop {
                if self.accepts_logins() {
                    return Ok(());
                }
                let child = self.child.as_mut().expect("just spawned");
                if let Some(status) = child.try_wait()? {
                    self.kill(); // reaped already: this stands the watchdog down
                    if Instant::now() >= deadline {
                        return Err(io::Error::other(format!(
                            "postgres on port {} exited: {status}",
                            self.port
                        )));
                    }
                    thread::sleep(Duration::from_millis(100));
                    break; // start it again
                }
                if Instant::now() >= deadline {
                    self.kill();
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("postgres on port {} did not accept logins", self.port),
                    ));
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn accepts_logins(&self) -> bool {
        let mut config: postgres::Config = match self.url().parse() {
            Ok(config) => config,
            Err(_) => return false,
        };
        config.connect_timeout(Duration::from_secs(1));
        self.connect(&mut config).is_ok()
    }

    /// Starts the watchdog of the postmaster about to be launched: a shell, as the server's
    /// user, in a process group of its own, that ignores the signals a terminal or `timeout`
    /// sends and waits on its standard input for the postmaster's pid, then for a line that
    /// stands it down. The end of input first means this process died with the server
    /// running: it stops the server as `Drop` would (SIGINT, up to 5 s, then SIGKILL) and
    /// removes the directory. It signals only while `postmaster.pid` names that pid (the
    /// postmaster removes the file on a clean exit, and `kill` removes a stale one), so it
    /// never signals a process group id that was freed and handed to someone else. If this
    /// process died between launching the postmaster and telling its pid, the pid is taken
    /// from that file.
    fn watch(&self) -> io::Result<Child> {
        let script = r#"
            trap '' INT TERM HUP
            pidfile="$1/data/postmaster.pid"
            owner() { [ -n "$pid" ] && [ "$(sed -n 1p "$pidfile" 2>/dev/null)" = "$pid" ]; }
            if read -r pid; then
                [ "$pid" = done ] && exit 0
                if read -r _; then exit 0; fi
            else
                pid=
            fi
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                [ -z "$pid" ] && pid=$(sed -n 1p "$pidfile" 2>/dev/null)
                owner && break
                sleep 0.5
            done
            owner && kill -INT "-$pid" 2>/dev/null
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                owner || break
                sleep 0.5
            done
            owner && kill -KILL "-$pid" 2>/dev/null
            rm -rf "$1"
        "#;
        let mut command = Command::new("sh");
        command
            .args(["-c", script, "mqsync-postgres-watchdog"])
            .arg(self.dir.path());
        // A process group of its own: not even a SIGKILL to ours reaches it.
        as_user(&mut command, self.run_as)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // A fast shutdown first: a SIGKILLed postmaster leaves its SysV shared memory segment
        // behind, and many killed test clusters exhaust the system's limit. The directory goes
        // with the `TempDir` (root may remove the postgres user's files).
        self.stop(SHUTDOWN_GRACE);
    }
}

/// A CA and a server certificate for `127.0.0.1` and `localhost` that it signed, in `dir`
/// (`server.crt`, `server.key`), the key readable by the server's user alone, as PostgreSQL
/// insists; returns the CA's PEM.
fn make_certificates(dir: &Path, run_as: Option<(u32, u32)>) -> io::Result<Vec<u8>> {
    let ca = crate::sync::test_certificates::make_certificates(dir)?;
    let key = dir.join("server.key");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    }
    if let Some((uid, gid)) = run_as {
        for file in [dir.join("server.crt"), key] {
            std::os::unix::fs::chown(file, Some(uid), Some(gid))?;
        }
    }
    Ok(ca.into_bytes())
}

/// 32 hex digits from `/dev/urandom`: a password no other cluster shares.
fn random_password() -> io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `command`, set to run as `run_as` (uid, gid) if given.
fn as_user(command: &mut Command, run_as: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = run_as {
        command
            .uid(uid)
            .gid(gid)
            .env("HOME", "/tmp")
            .env("USER", "postgres");
    }
    command
}

/// Sends `signal` to the process group led by `pid` (the `kill` program: no `unsafe` here).
fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether we run as uid 0 (`/proc/self/status`; `id -u` if that cannot be read).
fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            return line.split_whitespace().nth(1) == Some("0");
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// The `postgres` user's uid and gid, from `/etc/passwd` (the package creates the user).
fn postgres_user() -> io::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres") && fields.len() > 3)
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "running as root, and there is no `postgres` user to run initdb as \
                     (initdb refuses root): `{INSTALL_HINT}` creates it"
                ),
            )
        })
}
