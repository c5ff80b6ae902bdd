//! Test helper: a throwaway `redis-server` on a free loopback port, for the tests, the example
//! and the bench (not part of the sync API).

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The command that installs the server on Debian and Ubuntu, for error messages.
///
/// ```
/// assert!(mqsync::sync::redis_testing::INSTALL_HINT.contains("redis-server"));
/// ```
pub const INSTALL_HINT: &str = "apt-get install -y redis-server";

/// A `redis-server` child process on `127.0.0.1:<free port>`, with its data in a temporary
/// directory, append-only persistence on (`--appendonly yes`, `--save ""`), killed and its
/// directory removed on drop.
///
/// ```no_run
/// use mqsync::sync::redis_testing::RedisServer;
///
/// let server = RedisServer::start()?;
/// println!("listening at {}", server.url());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// The data directory, shared by the attempts of one launch; removed when the last holder
    /// drops it.
    dir: Arc<tempfile::TempDir>,
    /// Extra `redis-server` arguments, kept for [`restart`](Self::restart).
    extra: Vec<String>,
    /// For a TLS server: the test CA's certificate (PEM) that signed the server's.
    tls_ca: Option<String>,
}

impl RedisServer {
    /// Whether `redis-server` can be started (is on `PATH`).
    ///
    /// ```
    /// use mqsync::sync::redis_testing::RedisServer;
    ///
    /// if !RedisServer::available() {
    ///     eprintln!("no redis-server: the Redis tests will say so");
    /// }
    /// ```
    pub fn available() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts a server on a free loopback port and waits until it answers. Fails with a message
    /// naming the install command when `redis-server` is not on `PATH`.
    pub fn start() -> io::Result<RedisServer> {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with extra `redis-server` arguments, also used on every
    /// [`restart`](Self::restart). For a test that kills the server and counts on every
    /// acknowledged write surviving, pass `["--appendfsync", "always"]`: under the default
    /// `everysec`, Redis may postpone its append-only write (up to 2 s, while a background fsync
    /// is slow) and still reply, so a SIGKILL can lose acknowledged entries.
    ///
    /// ```no_run
    /// use mqsync::sync::redis_testing::RedisServer;
    ///
    /// let server = RedisServer::start_with(&["--appendfsync", "always"])?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start_with(extra: &[&str]) -> io::Result<RedisServer> {
        Self::launch(extra, false)
    }

    /// A server that speaks only TLS (`rediss://`, `--port 0 --tls-port <free port>`), with a
    /// throwaway CA and a server certificate for `127.0.0.1` made by the `openssl` command line
    /// tool in its directory. Clients must trust [`tls_ca_pem`](Self::tls_ca_pem) (the server
    /// does not ask for client certificates).
    ///
    /// ```no_run
    /// use mqsync::sync::redis_testing::RedisServer;
    ///
    /// let server = RedisServer::start_tls()?;
    /// assert!(server.url().starts_with("rediss://"));
    /// let ca = server.tls_ca_pem().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start_tls() -> io::Result<RedisServer> {
        Self::launch(&[], true)
    }

    fn launch(extra: &[&str], tls: bool) -> io::Result<RedisServer> {
        if !Self::available() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("redis-server is not on PATH: install it with `{INSTALL_HINT}`"),
            ));
        }
        let dir = Arc::new(
            tempfile::Builder::new()
                .prefix(&format!("mqsync-redis-{}-", std::process::id()))
                .tempdir()?,
        );
        let tls_ca = if tls {
            Some(crate::sync::test_certificates::make_certificates(
                dir.path(),
            )?)
        } else {
            None
        };
        let mut last_error = None;
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            let mut server = RedisServer {
                child: None,
                port,
                dir: Arc::clone(&dir),
                extra: extra.iter().map(|a| a.to_string()).collect(),
                tls_ca: tls_ca.clone(),
            };
            match server.restart() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = Some(e), // the port was taken meanwhile: try another
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    /// `redis://127.0.0.1:<port>/`, or `rediss://127.0.0.1:<port>/` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls_ca.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// For a server from [`start_tls`](Self::start_tls): the CA certificate (PEM) to trust.
    pub fn tls_ca_pem(&self) -> Option<&str> {
        self.tls_ca.as_deref()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory (the append-only files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server at once (SIGKILL: no shutdown, as in a crash). With
    /// `--appendfsync always` (see [`start_with`](Self::start_with)) everything it acknowledged
    /// is in its append-only file, so [`restart`](Self::restart) finds it again.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory (killing it first if running),
    /// and waits until it answers `PING` with its data loaded.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let mut command = Command::new("redis-server");
        if self.tls_ca.is_some() {
            let file = |name: &str| self.dir.path().join(name).to_string_lossy().into_owned();
            command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .args(["--tls-cert-file", &file("server.crt")])
                .args(["--tls-key-file", &file("server.key")])
                .args(["--tls-ca-cert-file", &file("ca.crt")])
                .args(["--tls-auth-clients", "no"]);
        } else {
            command.args(["--port", &self.port.to_string()]);
        }
        let child = command
            .args(["--bind", "127.0.0.1"])
            .args(["--dir", &self.dir.path().to_string_lossy()])
            .args(["--appendonly", "yes"])
            .args(["--save", ""])
            .args(["--daemonize", "no"])
            .args(["--loglevel", "warning"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.ping() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    return Err(io::Error::other(format!(
                        "redis-server on port {} exited: {status}",
                        self.port
                    )));
                }
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("redis-server on port {} did not answer", self.port),
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server answers `PING` with `PONG` (not `LOADING`).
    fn ping(&self) -> bool {
        use io::{Read, Write};
        if let Some(ca) = &self.tls_ca {
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.clone().into_bytes()),
            };
            let pong = redis::Client::build_with_tls(self.url(), certificates)
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn));
            return pong.is_ok_and(|p| p == "PONG");
        }
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // The directory goes with the last `Arc` of the `TempDir`.
        self.kill();
    }
}

/// How far a consumer group is behind on a stream: entries not yet delivered to it (`lag`)
/// and entries delivered but not acknowledged (`pending`), from `XINFO GROUPS`. Both 0: the
/// group has consumed everything. `lag` is `u64::MAX` when Redis cannot tell (after entries were
/// deleted or trimmed past the group).
///
/// ```no_run
/// let (lag, pending) = mqsync::sync::redis_testing::group_backlog("redis://127.0.0.1:6379", "orders", "mqsync")?;
/// # Ok::<(), redis::RedisError>(())
/// ```
pub fn group_backlog(url: &str, stream: &str, group: &str) -> redis::RedisResult<(u64, u64)> {
    let mut conn = redis::Client::open(url)?.get_connection()?;
    group_backlog_on(&mut conn, stream, group)
}

/// [`group_backlog`] on a connection the caller keeps (for polling).
///
/// ```no_run
/// let mut conn = redis::Client::open("redis://127.0.0.1:6379")?.get_connection()?;
/// let (lag, pending) = mqsync::sync::redis_testing::group_backlog_on(&mut conn, "orders", "mqsync")?;
/// # Ok::<(), redis::RedisError>(())
/// ```
pub fn group_backlog_on(
    conn: &mut redis::Connection,
    stream: &str,
    group: &str,
) -> redis::RedisResult<(u64, u64)> {
    let groups: Vec<redis::Value> = redis::cmd("XINFO").arg("GROUPS").arg(stream).query(conn)?;
    for info in groups {
        // RESP2: a flat [name, value, ...] list; RESP3: a map.
        let pairs: Vec<(redis::Value, redis::Value)> = match info {
            redis::Value::Array(flat) => {
                let mut flat = flat.into_iter();
                std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
            }
            redis::Value::Map(pairs) => pairs,
            _ => continue,
        };
        let field = |name: &str| {
            pairs.iter().find_map(|(k, v)| match k {
                redis::Value::BulkString(k) if k == name.as_bytes() => Some(v),
                redis::Value::SimpleString(k) if k == name => Some(v),
                _ => None,
            })
        };
        let number = |name: &str| match field(name) {
            Some(redis::Value::Int(n)) => u64::try_from(*n).ok(),
            _ => None, // a nil lag: Redis cannot tell (after deletions)
        };
        if matches!(field("name"), Some(redis::Value::BulkString(b)) if b == group.as_bytes()) {
            return Ok((
                number("lag").unwrap_or(u64::MAX),
                number("pending").unwrap_or(0),
            ));
        }
    }
    Err(redis::RedisError::from((
        redis::ErrorKind::Client,
        "no such consumer group",
        format!("{stream}/{group}"),
    )))
}
