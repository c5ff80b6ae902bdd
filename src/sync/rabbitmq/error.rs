//! [`RabbitMqError`]: why a RabbitMQ operation of the source or the sink failed.

/// Why a [`RabbitMqSource`](super::RabbitMqSource) or [`RabbitMqSink`](super::RabbitMqSink)
/// operation failed (feature `rabbitmq`): the cause inside
/// [`SourceError::RabbitMq`](crate::sync::SourceError::RabbitMq) and
/// [`SinkError::RabbitMq`](crate::sync::SinkError::RabbitMq). No variant holds the URL, so none
/// prints the password.
///
/// ```
/// use mqsync::sync::RabbitMqError;
///
/// let err = RabbitMqError::Nacked { count: 2 };
/// assert_eq!(err.to_string(), "the broker refused (nacked) 2 message(s)");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RabbitMqError {
    /// The AMQP client failed: the connection is lost or refused (wrong credentials, no such
    /// vhost), or the broker closed the channel (a queue declared with other arguments).
    #[error(transparent)]
    Client(#[from] lapin::Error),
    /// The broker answered a publish with `basic.nack`: it did not take the messages.
    #[error("the broker refused (nacked) {count} message(s)")]
    Nacked {
        /// How many messages of the batch were nacked.
        count: usize,
    },
    /// The broker returned messages published as mandatory: no queue is bound to the exchange
    /// for their routing key.
    #[error("{count} message(s) unroutable: no queue bound to exchange {exchange:?} for routing key {routing_key:?}")]
    Unroutable {
        /// How many messages came back.
        count: usize,
        /// The exchange (`""`: the default exchange).
        exchange: String,
        /// The routing key.
        routing_key: String,
    },
    /// The consumer's channel closed or the broker cancelled the consumer (the queue was
    /// deleted): the source reconnects on the next pull.
    #[error("the consumer was cancelled or its channel closed")]
    ConsumerClosed,
    /// The broker did not answer `operation` (a connect, a declare, a publish's confirm, an
    /// ack) within `after`: the connection is reset, as for a lost one, and the call retried
    /// later. After a broker restart, a quorum queue that is not available yet can take
    /// publishes and never confirm them.
    #[error("the broker did not answer {operation} within {after:?}")]
    TimedOut {
        /// The AMQP operation waited for (`basic.publish confirm`, `basic.ack`, ...).
        operation: &'static str,
        /// How long it was waited for.
        after: std::time::Duration,
    },
    /// A thread for the consumer could not be started.
    #[error("cannot start the consumer thread")]
    Thread(#[source] std::io::Error),
}
