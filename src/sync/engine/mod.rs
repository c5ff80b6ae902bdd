//! [`DataSync`]: the engine — a reader thread that pulls from the sources and hands changes to
//! worker threads over wait-free SPSC rings, partitioned by key; workers that apply batches to
//! every sink; commit-after-confirm back to the sources.
//
// Threads and what they own
// =========================
//
//   reader ──(SPSC ring of parcels per worker, partitioned by hash(key))──▶ worker 0..n ──▶ sinks
//     ▲                                                                         │
//     └──────────(MsQueue of confirmations: (source, ticket, count))────────────┘
//
// * The reader owns the sources and one `Ledger` per source. Each pull gets a ticket and its
//   changes consecutive numbers; the reader splits the pull by the worker that owns each key
//   and hands each worker its share as one parcel (a `Vec<Change>`): one handoff per worker
//   per pull, not per change, and with one worker the pulled vector goes through untouched.
//   A source is committed only through the last change of the last pull before which every
//   change is confirmed. A confirmation means "applied by every sink, or dead-lettered with a
//   reason", so a committed position never skips a change.
// * `handoff_capacity` bounds the changes in a worker's ring (`Shared::queued`): the reader
//   waits for room, or dead-letters what does not fit (`FullPolicy`).
// * Each worker owns the consumer half of its ring and gathers parcels into batches of up to
//   `batch_size`. One key always maps to one worker, so the changes of a key reach the sinks in
//   pull order (a retried change may land after a later one of the same key; the sinks'
//   version check makes the end state the same). Bookkeeping is per parcel: one latency record,
//   one confirmation. The last sink may take the batch (`Sink::apply_owned`) when nothing needs
//   it afterwards; what it leaves after a failure is retried and dead-lettered as before.
// * Shutdown: the reader stops pulling, closes the rings (workers drain what is inside, then
//   exit), waits for every confirmation, commits, and returns. Nothing pulled is lost.
//
// Files: `settings` (what may be tuned), `builder` (checks it and starts the threads), `handle`
// (`DataSync`, what the application holds), `shared` (the state every thread shares, and the
// messages between them: nothing else owns shared state), `reader`, `worker`, and `ledger` (the
// reader's commit bookkeeping). Each uses only `shared` and the files below it in this list;
// `builder` uses them all.

mod builder;
mod handle;
mod ledger;
mod reader;
mod settings;
mod shared;
mod worker;

pub use builder::DataSyncBuilder;
pub use handle::{DataSync, SyncReport};
pub use settings::{FullPolicy, SyncSettings};
