//! [`Link`]: one AMQP connection and one channel on it, opened on first use and again, with
//! backoff, after either is lost; and [`wait`], how the connector's blocking calls wait for
//! lapin's futures.
//
// The runtime: lapin runs each connection's socket on an I/O thread of its own and its
// callbacks on its default executor (async-global-executor, one process-wide pool). The
// connector never exposes a future: every call blocks its caller on the future with
// `futures_executor::block_on`, which parks the calling thread until lapin's I/O thread wakes
// it. The cost is one lapin I/O thread per `Link` (a source holds one, a sink one per
// concurrent batch), plus the source's consumer thread (source.rs).

use super::error::RabbitMqError;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use std::future::Future;
use std::thread;
use std::time::{Duration, Instant};

/// The first wait before reconnecting after a failure; doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Blocks the calling thread until `future` (one of lapin's) completes.
pub(super) fn wait<F: Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

/// A connection and a channel, opened on first use and again after a failure that broke them.
///
/// Invariant: `open` is `None` after any failure reported through [`reset`](Link::reset); the
/// next [`channel`](Link::channel) reconnects, not before `next_attempt`. A channel handed out
/// is the only channel of its connection.
pub(super) struct Link {
    /// The URL, password included: never printed (the `Debug` below leaves it out).
    uri: AMQPUri,
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
}

impl Link {
    pub(super) fn new(uri: AMQPUri, label: &str) -> Self {
        Link {
            uri,
            open: None,
            backoff: FIRST_BACKOFF,
            next_attempt: Instant::now(),
            label: label.to_owned(),
            lost: false,
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
        let connection = wait(Connection::connect_uri(
            self.uri.clone(),
            ConnectionProperties::default(),
        ))?;
        let channel = match wait(connection.create_channel()) {
            Ok(channel) => channel,
            Err(error) => {
                let _ = wait(connection.close(200, "mqsync: channel failed"));
                return Err(error.into());
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
            if connection.status().connected() {
                let _ = wait(connection.close(200, "mqsync: reconnecting"));
            }
        }
        self.fail();
    }

    /// Closes the connection without a backoff (the owner is going away).
    pub(super) fn close(&mut self) {
        if let Some((connection, _)) = self.open.take() {
            if connection.status().connected() {
                let _ = wait(connection.close(200, "mqsync: closed"));
            }
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
