//! [`Link`]: one AMQP connection and one channel on it, opened on first use and again, with
//! backoff, after either is lost; and [`wait`], how the connector's blocking calls wait for
//! lapin's futures, each for [`OPERATION_TIMEOUT`] at most.
//
// The runtime: lapin runs each connection's socket on an I/O thread of its own and its
// callbacks on its default executor (async-global-executor, one process-wide pool). The
// connector never exposes a future: every call blocks its caller on the future with [`wait`],
// which parks the calling thread until lapin's I/O thread wakes it. The cost is one lapin I/O
// thread per `Link` (a source holds two, its consumer's and its dead-letter publisher's; a sink
// one per concurrent batch), plus the source's consumer thread (source.rs).
//
// The bound: every [`wait`] gives up after [`OPERATION_TIMEOUT`], because a broker can accept
// a frame and never answer it (after a SIGKILL and restart, a quorum queue whose Raft member
// came back as a follower with an empty log takes publishes and never confirms them); the
// caller then resets the link as for any other failure, so nothing waits on a dead answer.

use super::error::RabbitMqError;
use lapin::tcp::{AMQPUriTcpExt, TLSConfig, TcpStream};
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use std::future::Future;
use std::net::Shutdown;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

/// The first wait before reconnecting after a failure; doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The longest [`wait`] for one broker operation (a connect, a declare, a publish's confirm,
/// an ack, a close) before it fails with [`RabbitMqError::TimedOut`].
pub(super) const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Blocks the calling thread until `future` (one of lapin's, `operation`) completes, or for
/// [`OPERATION_TIMEOUT`] at most: then drops the future and fails with
/// [`RabbitMqError::TimedOut`] (the caller resets the link: what the broker still owes is lost
/// with the connection).
pub(super) fn wait<T>(
    operation: &'static str,
    future: impl Future<Output = lapin::Result<T>>,
) -> Result<T, RabbitMqError> {
    match wait_until(future, Instant::now() + OPERATION_TIMEOUT) {
        Some(outcome) => outcome.map_err(RabbitMqError::from),
        None => Err(RabbitMqError::TimedOut {
            operation,
            after: OPERATION_TIMEOUT,
        }),
    }
}

/// Polls `future` on the calling thread, parking it between wake-ups, until it completes
/// (`Some`) or `deadline` passes (`None`). A spurious unpark only costs one more poll.
fn wait_until<F: Future>(future: F, deadline: Instant) -> Option<F::Output> {
    /// Wakes the waiting thread: lapin's I/O thread or executor calls it when the future can
    /// make progress.
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        thread::park_timeout(left);
    }
}

/// A connection and a channel, opened on first use and again after a failure that broke them.
///
/// Invariant: `open` is `None` after any failure reported through [`reset`](Link::reset); the
/// next [`channel`](Link::channel) reconnects, not before `next_attempt`. A channel handed out
/// is the only channel of its connection.
pub(super) struct Link {
    /// The URL, password included: never printed (the `Debug` below leaves it out).
    uri: AMQPUri,
    /// A CA certificate (PEM) to trust besides the system's roots, for `amqps://`.
    tls_root: Option<Arc<str>>,
    open: Option<(Connection, Channel)>,
    backoff: Duration,
    /// No connection attempt before this instant (backoff after a failure).
    next_attempt: Instant,
    /// The owner's name (`rabbitmq:<queue>`, ...): the label of events and metrics, never the
    /// URL.
    label: String,
    /// True after a failure closed the connection or an attempt failed, until a connect
    /// succeeds: that connect is a reconnect.
    lost: bool,
    /// A handle on the open connection's TCP socket (plain `amqp://` only; `None` with TLS),
    /// written by lapin's connect callback: closing the connection shuts it down, so that the
    /// broker drops the connection, and requeues what it held, even when it never answers
    /// `connection.close` (a channel stuck on a queue that is not available).
    socket: Arc<Mutex<Option<std::net::TcpStream>>>,
}

impl Link {
    pub(super) fn new(uri: AMQPUri, tls_root: Option<Arc<str>>, label: &str) -> Self {
        Link {
            uri,
            tls_root,
            open: None,
            backoff: FIRST_BACKOFF,
            next_attempt: Instant::now(),
            label: label.to_owned(),
            lost: false,
            socket: Arc::default(),
        }
    }

    /// The channel, and whether it was opened by this call (the caller then sets it up: qos,
    /// declares, confirm mode, consume). Waits out the backoff of an earlier failure first.
    pub(super) fn channel(&mut self) -> Result<(&Channel, bool), RabbitMqError> {
        let broken = self.open.is_some() && self.current().is_none();
        if broken {
            self.reset(&"the connection or its channel closed");
        }
        let fresh = self.open.is_none();
        if fresh {
            let wait_for = self.next_attempt.saturating_duration_since(Instant::now());
            if !wait_for.is_zero() {
                thread::sleep(wait_for);
            }
            let attempt = self.connect();
            crate::observe::rabbitmq_connected(&self.label, self.lost, &attempt);
            self.lost = attempt.is_err();
            match attempt {
                Ok(open) => self.open = Some(open),
                Err(error) => {
                    self.fail();
                    return Err(error);
                }
            }
        }
        let (_, channel) = self.open.as_ref().expect("opened above");
        Ok((channel, fresh))
    }

    fn connect(&self) -> Result<(Connection, Channel), RabbitMqError> {
        let socket = Arc::clone(&self.socket);
        let tls_root = self.tls_root.clone();
        // The Err type is lapin's (`HandshakeResult`), not ours to box.
        #[allow(clippy::result_large_err)]
        let connect = move |uri: &AMQPUri| {
            let stream = uri.connect_with_config(TLSConfig {
                identity: None,
                cert_chain: tls_root.as_deref(),
            })?;
            if let TcpStream::Plain(plain, _) = &stream {
                *socket.lock().unwrap_or_else(PoisonError::into_inner) = plain.try_clone().ok();
            }
            Ok(stream)
        };
        let connection = wait(
            "connect",
            Connection::connector(
                self.uri.clone(),
                Box::new(connect),
                ConnectionProperties::default(),
            ),
        )?;
        let channel = match wait("channel.open", connection.create_channel()) {
            Ok(channel) => channel,
            Err(error) => {
                self.shut(&connection, "mqsync: channel failed");
                return Err(error);
            }
        };
        Ok((connection, channel))
    }

    /// The open channel, if its connection and it are still up; never connects.
    pub(super) fn current(&self) -> Option<Channel> {
        self.open
            .as_ref()
            .filter(|(conn, channel)| conn.status().connected() && channel.status().connected())
            .map(|(_, channel)| channel.clone())
    }

    /// A call on the channel succeeded: the next failure starts the backoff afresh.
    pub(super) fn succeeded(&mut self) {
        self.backoff = FIRST_BACKOFF;
    }

    /// After `error`: closes the connection (best effort; the broker requeues whatever this
    /// channel held unacknowledged) and waits a backoff before the next connection attempt.
    pub(super) fn reset(&mut self, error: &dyn std::fmt::Display) {
        if self.open.is_some() {
            crate::observe::rabbitmq_connection_lost(&self.label, error);
            self.lost = true;
        }
        if let Some((connection, _)) = self.open.take() {
            self.shut(&connection, "mqsync: reconnecting");
        }
        self.fail();
    }

    /// Closes the connection without a backoff (the owner is going away).
    pub(super) fn close(&mut self) {
        if let Some((connection, _)) = self.open.take() {
            self.shut(&connection, "mqsync: closed");
        }
    }

    /// Closes `connection` (best effort, for [`OPERATION_TIMEOUT`] at most), then shuts its
    /// socket down: lapin keeps a connection whose close the broker never answered open, and
    /// the broker would keep its unacknowledged deliveries with it.
    fn shut(&self, connection: &Connection, reason: &str) {
        if connection.status().connected() {
            let _ = wait("connection.close", connection.close(200, reason));
        }
        let socket = self
            .socket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(socket) = socket {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    fn fail(&mut self) {
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("connected", &self.open.is_some())
            .field("backoff", &self.backoff)
            .finish()
    }
}
