//! Test helper: a throwaway `rabbitmq-server` node on free loopback ports, for the tests and the
//! bench (not part of the sync API).
//
// Isolation: each server is its own Erlang node (`rabbit-<pid>-<n>@localhost`) with its own
// epmd (`ERL_EPMD_PORT`), distribution port (`RABBITMQ_DIST_PORT`) and AMQP port, all on free
// loopback ports, and everything it writes (database, logs, config, Erlang cookie via `HOME`)
// in one temporary directory. No plugin is enabled (no management listener).
//
// Lifetime: the node (the start script and the Erlang VM) runs in a process group of its own
// (`setsid`) under a small `sh` guard that reads its standard input, a pipe this process holds.
// `kill` writes a line: the guard sends SIGKILL to the node's group and exits. `Drop` does the
// same, then stops the node's epmd and removes the directory. If this process dies without
// dropping the server (a static shared by tests, a crash), the pipe closes, the guard's `read`
// sees the end of input, and the guard kills the node, stops its epmd and removes the directory
// itself. The guard runs in a process group of its own and ignores SIGINT, SIGTERM and SIGHUP,
// so that a Ctrl-C or a `timeout` aimed at the tests' process group does not take it down
// before it has cleaned up.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The command that installs the server on Debian and Ubuntu, for error messages.
///
/// ```
/// assert!(mqsync::sync::rabbitmq_testing::INSTALL_HINT.contains("rabbitmq-server"));
/// ```
pub const INSTALL_HINT: &str = "apt-get install -y rabbitmq-server";

/// The user the test broker creates (with [`PASSWORD`]).
///
/// ```
/// assert_eq!(mqsync::sync::rabbitmq_testing::USER, "mqsync");
/// ```
pub const USER: &str = "mqsync";

/// The test user's password: a real one, so that tests can check it never prints.
///
/// ```
/// assert!(!mqsync::sync::rabbitmq_testing::PASSWORD.is_empty());
/// ```
pub const PASSWORD: &str = "t0p-s3cret-pw";

/// How long a start may take before it counts as failed (RabbitMQ boots in seconds).
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// Tells the nodes of one process apart.
static NODES: AtomicU32 = AtomicU32::new(0);

/// A `rabbitmq-server` node on `127.0.0.1:<free port>`, with its data in a temporary directory,
/// killed and its directory removed on drop.
///
/// ```no_run
/// use mqsync::sync::rabbitmq_testing::RabbitMqServer;
///
/// let server = RabbitMqServer::start()?;
/// println!("listening at {}", server.url_redacted());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct RabbitMqServer {
    /// The guard shell (group leader); `None` while killed.
    child: Option<Child>,
    amqp_port: u16,
    dist_port: u16,
    epmd_port: u16,
    node: String,
    dir: tempfile::TempDir,
    /// The `amqps://` port and the CA that signed the node's certificate
    /// ([`start_tls`](Self::start_tls)).
    tls: Option<(u16, String)>,
}

impl RabbitMqServer {
    /// The start script: the one the Debian wrapper in `/usr/sbin` runs (the wrapper switches
    /// to the `rabbitmq` user when run as root), else `rabbitmq-server` on `PATH` or in
    /// `/usr/sbin` (which is not on every user's `PATH`).
    fn script() -> Option<PathBuf> {
        let direct = PathBuf::from("/usr/lib/rabbitmq/bin/rabbitmq-server");
        if direct.is_file() {
            return Some(direct);
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
            .map(|dir| dir.join("rabbitmq-server"))
            .find(|candidate| candidate.is_file())
    }

    /// Whether `rabbitmq-server` can be found (see the search order of the fixture).
    ///
    /// ```
    /// use mqsync::sync::rabbitmq_testing::RabbitMqServer;
    ///
    /// if !RabbitMqServer::available() {
    ///     eprintln!("no rabbitmq-server: the RabbitMQ tests will say so");
    /// }
    /// ```
    pub fn available() -> bool {
        Self::script().is_some()
    }

    /// Starts a node on free loopback ports and waits until it accepts an AMQP login (seconds:
    /// the Erlang VM and RabbitMQ boot). Fails with a message naming the install command when
    /// `rabbitmq-server` is missing.
    ///
    /// ```no_run
    /// use mqsync::sync::rabbitmq_testing::RabbitMqServer;
    ///
    /// let server = RabbitMqServer::start()?; // seconds: the Erlang VM boots
    /// assert!(server.port() > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start() -> io::Result<RabbitMqServer> {
        Self::start_with(false)
    }

    /// As [`start`](Self::start), with an `amqps://` listener too ([`tls_url`](Self::tls_url)),
    /// whose certificate (for `127.0.0.1` and `localhost`) a CA made for this node alone signed
    /// ([`ca_pem`](Self::ca_pem), to trust with
    /// [`tls_root_certificate`](crate::sync::RabbitMqConfigBuilder::tls_root_certificate)).
    /// Needs the `openssl` tool.
    ///
    /// ```no_run
    /// use mqsync::sync::rabbitmq_testing::RabbitMqServer;
    /// use mqsync::sync::RabbitMqConfig;
    ///
    /// let server = RabbitMqServer::start_tls()?;
    /// let config = RabbitMqConfig::builder(server.tls_url().unwrap(), "orders")
    ///     .tls_root_certificate(server.ca_pem().unwrap())
    ///     .build()
    ///     .unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start_tls() -> io::Result<RabbitMqServer> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> io::Result<RabbitMqServer> {
        if !Self::available() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("rabbitmq-server not found: install it with `{INSTALL_HINT}`"),
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("mqsync-rabbitmq-{}-", std::process::id()))
            .tempdir()?;
        // Distinct free ports (AMQP, distribution, epmd, and AMQPS with TLS): held together,
        // then released for the node to take.
        let listeners = (0..if tls { 4 } else { 3 })
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<io::Result<Vec<_>>>()?;
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<io::Result<Vec<_>>>()?;
        drop(listeners);
        let node = format!(
            "rabbit-{}-{}@localhost",
            std::process::id(),
            NODES.fetch_add(1, Ordering::Relaxed)
        );
        let mut config = format!(
            "listeners.tcp.default = 127.0.0.1:{}\nloopback_users = none\n\
             default_user = {USER}\ndefault_pass = {PASSWORD}\n\
             log.console = false\nlog.file.level = warning\n",
            ports[0]
        );
        let tls = if tls {
            let ca = crate::sync::test_certificates::make_certificates(dir.path())?;
            let file = |name: &str| dir.path().join(name).display().to_string();
            config.push_str(&format!(
                "listeners.ssl.default = 127.0.0.1:{}\n\
                 ssl_options.cacertfile = {}\nssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\nssl_options.verify = verify_none\n\
                 ssl_options.fail_if_no_peer_cert = false\n",
                ports[3],
                file("ca.crt"),
                file("server.crt"),
                file("server.key"),
            ));
            Some((ports[3], ca))
        } else {
            None
        };
        std::fs::write(dir.path().join("rabbitmq.conf"), config)?;
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n")?;
        let mut server = RabbitMqServer {
            child: None,
            amqp_port: ports[0],
            dist_port: ports[1],
            epmd_port: ports[2],
            node,
            dir,
            tls,
        };
        server.restart()?;
        Ok(server)
    }

    /// `amqp://mqsync:<password>@127.0.0.1:<port>/%2f`: holds the password, so print
    /// [`url_redacted`](Self::url_redacted) instead.
    ///
    /// ```no_run
    /// use mqsync::sync::rabbitmq_testing::RabbitMqServer;
    ///
    /// let server = RabbitMqServer::start()?;
    /// let config = mqsync::sync::RabbitMqConfig::builder(server.url(), "orders").build().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn url(&self) -> String {
        format!("amqp://{USER}:{PASSWORD}@127.0.0.1:{}/%2f", self.amqp_port)
    }

    /// [`url`](Self::url) with the password as `***`.
    ///
    /// ```no_run
    /// use mqsync::sync::rabbitmq_testing::RabbitMqServer;
    ///
    /// let server = RabbitMqServer::start()?;
    /// assert!(server.url_redacted().contains(":***@"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn url_redacted(&self) -> String {
        format!("amqp://{USER}:***@127.0.0.1:{}/%2f", self.amqp_port)
    }

    /// `amqps://mqsync:<password>@127.0.0.1:<port>/%2f` for a [`start_tls`](Self::start_tls)
    /// node (`None` otherwise): holds the password.
    ///
    /// ```no_run
    /// let server = mqsync::sync::rabbitmq_testing::RabbitMqServer::start_tls()?;
    /// assert!(server.tls_url().unwrap().starts_with("amqps://"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn tls_url(&self) -> Option<String> {
        let (port, _) = self.tls.as_ref()?;
        Some(format!("amqps://{USER}:{PASSWORD}@127.0.0.1:{port}/%2f"))
    }

    /// The PEM of the CA that signed a [`start_tls`](Self::start_tls) node's certificate.
    ///
    /// ```no_run
    /// let server = mqsync::sync::rabbitmq_testing::RabbitMqServer::start_tls()?;
    /// assert!(server.ca_pem().unwrap().contains("BEGIN CERTIFICATE"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|(_, ca)| ca.as_str())
    }

    /// The AMQP port.
    ///
    /// ```no_run
    /// use mqsync::sync::rabbitmq_testing::RabbitMqServer;
    ///
    /// let server = RabbitMqServer::start()?;
    /// assert!(server.url().contains(&server.port().to_string()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn port(&self) -> u16 {
        self.amqp_port
    }

    /// The node's directory (database, logs, config).
    ///
    /// ```no_run
    /// use mqsync::sync::rabbitmq_testing::RabbitMqServer;
    ///
    /// let server = RabbitMqServer::start()?;
    /// assert!(server.dir().join("rabbitmq.conf").exists());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the node at once (SIGKILL to its process group: no shutdown, as in a crash).
    /// Durable queues and the persistent messages the broker confirmed survive it:
    /// [`restart`](Self::restart) finds them again.
    ///
    /// ```no_run
    /// use mqsync::sync::rabbitmq_testing::RabbitMqServer;
    ///
    /// let mut server = RabbitMqServer::start()?;
    /// server.kill(); // as in a crash
    /// server.restart()?; // durable queues and confirmed persistent messages are back
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            use io::Write;
            // A line (not the end of input) tells the guard: kill the node, keep the rest.
            let told = child.stdin.as_mut().is_some_and(|stdin| {
                stdin
                    .write_all(b"kill\n")
                    .and_then(|()| stdin.flush())
                    .is_ok()
            });
            if !told {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Starts the node again on the same ports and directory (killing it first if running),
    /// and waits until it accepts an AMQP login.
    ///
    /// ```no_run
    /// use mqsync::sync::rabbitmq_testing::RabbitMqServer;
    ///
    /// let mut server = RabbitMqServer::start()?;
    /// server.restart()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let script = Self::script().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("rabbitmq-server not found: install it with `{INSTALL_HINT}`"),
            )
        })?;
        let dir = self.dir.path();
        let at = |name: &str| dir.join(name).to_string_lossy().into_owned();
        // The guard (see the file comment): runs the node in the background, waits for its
        // standard input to close, then cleans up after a parent that never did.
        let guard = r#"
            setsid "$0" </dev/null >"$RABBITMQ_LOG_BASE/stdout.log" 2>&1 &
            node=$!
            trap '' INT TERM HUP
            if read -r _; then kill -KILL -"$node"; exit 0; fi
            kill -KILL -"$node"
            sleep 1
            epmd -kill >/dev/null 2>&1
            rm -rf "$RABBITMQ_BASE"
        "#;
        std::fs::create_dir_all(dir.join("log"))?;
        let mut command = Command::new("sh");
        command
            .args(["-c", guard])
            // Out of our process group, and deaf to the signals a terminal or `timeout` sends:
            // only the end of its input (or a line) moves the guard.
            .process_group(0)
            .arg(&script)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .env("RABBITMQ_BASE", at(""))
            .env("RABBITMQ_CONFIG_FILE", at("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", at("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", at("rabbitmq-env.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", at("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", at("mnesia"))
            .env("RABBITMQ_LOG_BASE", at("log"))
            .env("RABBITMQ_PID_FILE", at("rabbitmq.pid"))
            .env("RABBITMQ_PLUGINS_EXPAND_DIR", at("plugins-expand"))
            .env("HOME", at(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(command.spawn()?);
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            if self.login() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    return Err(io::Error::other(format!(
                        "rabbitmq-server node {} exited: {status} (logs in {})",
                        self.node,
                        self.dir.path().join("log").display()
                    )));
                }
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "rabbitmq-server node {} did not accept a login on port {} within {:?}",
                        self.node, self.amqp_port, BOOT_TIMEOUT
                    ),
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the node accepts an AMQP login now (it opens its port late in its boot, and a
    /// login proves the user exists).
    fn login(&self) -> bool {
        if std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.amqp_port)).is_err() {
            return false;
        }
        let connected = futures_executor::block_on(lapin::Connection::connect(
            &self.url(),
            lapin::ConnectionProperties::default(),
        ));
        match connected {
            Ok(conn) => {
                let _ = futures_executor::block_on(conn.close(200, "ready"));
                true
            }
            Err(_) => false,
        }
    }
}

impl Drop for RabbitMqServer {
    fn drop(&mut self) {
        self.kill();
        // The node's own epmd; it refuses while a node is registered, so after the kill (and
        // again while the killed VM's registration is still being dropped).
        for _ in 0..20 {
            let killed = Command::new("epmd")
                .arg("-kill")
                .env("ERL_EPMD_PORT", self.epmd_port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match killed {
                Ok(status) if !status.success() => thread::sleep(Duration::from_millis(50)),
                _ => break, // killed, or no epmd command at all
            }
        }
        // The directory goes with the `TempDir`.
    }
}

/// The number of messages ready in `queue` (not counting those delivered and not yet
/// acknowledged), from a passive declare; an error if the queue does not exist.
///
/// ```no_run
/// let ready = mqsync::sync::rabbitmq_testing::queue_len("amqp://127.0.0.1:5672", "orders")?;
/// # Ok::<(), lapin::Error>(())
/// ```
pub fn queue_len(url: &str, queue: &str) -> lapin::Result<u32> {
    futures_executor::block_on(async {
        let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        let declared = channel
            .queue_declare(
                queue,
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await;
        let _ = conn.close(200, "done").await;
        Ok(declared?.message_count())
    })
}
