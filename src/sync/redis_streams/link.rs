//! [`Link`]: one connection to Redis that reconnects, with backoff, after it is lost.

use redis::{Connection, RedisError, RedisResult, RetryMethod};
use std::thread;
use std::time::{Duration, Instant};

/// The first wait before reconnecting after a failure; doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// A connection that is opened on first use and again after a failure that broke it.
///
/// Invariant: `conn` is `None` after any error that may have left the connection mid-reply
/// (I/O, timeout, protocol); the next call reconnects, not before `next_attempt`.
pub(super) struct Link {
    client: redis::Client,
    conn: Option<Connection>,
    connect_timeout: Duration,
    /// Socket read timeout: longer than any `BLOCK` this link sends.
    read_timeout: Duration,
    backoff: Duration,
    /// No connection attempt before this instant (backoff after a failure).
    next_attempt: Instant,
    /// The stream this link serves: the label of its events and metrics (never the URL).
    stream: String,
    /// True after a connection was lost or an attempt failed, until a connect succeeds: that
    /// connect is a reconnect.
    lost: bool,
}

impl Link {
    pub(super) fn new(
        client: redis::Client,
        stream: &str,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> Self {
        Link {
            client,
            conn: None,
            connect_timeout,
            read_timeout,
            backoff: FIRST_BACKOFF,
            next_attempt: Instant::now(),
            stream: stream.to_owned(),
            lost: false,
        }
    }

    /// True while a connection is open (it may still turn out to be broken on the next call).
    pub(super) fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Runs `f` on the connection, connecting first if needed. After a transient failure the
    /// next call waits out a backoff (10 ms, doubling, at most 500 ms) first; an error that may
    /// have broken the connection drops it.
    pub(super) fn call<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, RedisError> {
        let wait = self.next_attempt.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            thread::sleep(wait);
        }
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let conn = self.conn.insert(conn);
        match f(conn) {
            Ok(value) => {
                self.backoff = FIRST_BACKOFF;
                Ok(value)
            }
            Err(error) => {
                if breaks_connection(&error) {
                    self.conn = None;
                    self.lost = true;
                    crate::observe::redis_connection_lost(&self.stream, &error);
                }
                if is_transient(&error) {
                    self.fail();
                }
                Err(error)
            }
        }
    }

    fn connect(&mut self) -> Result<Connection, RedisError> {
        let attempt = self
            .client
            .get_connection_with_timeout(self.connect_timeout)
            .and_then(|conn| {
                conn.set_read_timeout(Some(self.read_timeout))?;
                conn.set_write_timeout(Some(self.read_timeout))?;
                Ok(conn)
            });
        crate::observe::redis_connected(&self.stream, self.lost, &attempt);
        self.lost = attempt.is_err();
        if attempt.is_err() {
            self.fail();
        }
        attempt
    }

    fn fail(&mut self) {
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// Whether a failed call may succeed if tried again (lost connection, timeout, server still
/// loading its data, ...) rather than never (a wrong type, a syntax error).
pub(super) fn is_transient(error: &RedisError) -> bool {
    !matches!(error.retry_method(), RetryMethod::NoRetry)
        || error.is_io_error()
        || error.is_timeout()
}

/// Whether the connection can be trusted after this error: not after I/O errors or timeouts
/// (a reply may be half read).
fn breaks_connection(error: &RedisError) -> bool {
    error.is_io_error() || error.is_timeout() || error.is_unrecoverable_error()
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("connected", &self.conn.is_some())
            .field("backoff", &self.backoff)
            .finish()
    }
}
