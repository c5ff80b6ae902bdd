//! RabbitMQ bench (work in progress).
fn main() {}
