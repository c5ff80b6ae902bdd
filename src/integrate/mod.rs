//! Layer 4: message integration. Heterogeneous inputs in, one validated [`Message`] out.
//!
//! Source systems send JSON objects, bare text, numbers, bytes, CSV rows, logfmt lines,
//! MessagePack or Rust values ([`Raw`]). An [`Integrator`] turns each into a [`Message`]: an id,
//! the source's name, an optional entity key and version (what the sync engine uses for
//! idempotency), a timestamp, string headers and a JSON object body. Per-source rules
//! ([`SourceRules`], loadable from JSON or TOML as a [`RuleSet`]) rename, convert, default,
//! drop and validate fields. Whatever cannot become a message comes back as a [`Rejection`]
//! holding the input and a [`Reason`] that names the field and the rule; nothing is dropped and
//! nothing panics.
//!
//! Batches run on rayon ([`Integrator::integrate_batch`]); [`Integrator::integrate_queue`]
//! moves inputs between [`MsQueue`](crate::MsQueue)s. Messages encode back out as JSON,
//! MessagePack or a CSV row ([`Message::to_json`], [`Message::to_msgpack`],
//! [`Message::to_csv_row`]).
//!
//! `docs/integrate.md` describes the rule language and the rejection reasons in full.
//!
//! ```
//! use mqsync::integrate::{Input, Integrator, Raw, RuleSet};
//!
//! let rules = RuleSet::from_toml_str(r#"
//!     [sources.billing]
//!     id = "invoice"
//!     convert = [{ field = "total", to = "number" }]
//!     validate = [{ field = "total", required = true, min = 0 }]
//! "#).unwrap();
//! let integrator = Integrator::builder().rules(rules).build().unwrap();
//!
//! let out = integrator.integrate_batch(vec![
//!     Input::new("billing", Raw::Logfmt("invoice=INV-1 total=12.50".into())),
//!     Input::new("billing", Raw::Logfmt("invoice=INV-2 total=-3".into())),
//!     Input::new("chat", Raw::Text("hello".into())),
//! ]);
//! assert_eq!(out.messages[0].id, "INV-1");
//! assert_eq!(out.messages[0].body["total"], 12.5);
//! assert_eq!(out.messages[1].body["text"], "hello");
//! assert_eq!(out.rejected[0].index, 1);
//! assert_eq!(out.rejected[0].reason.to_string(), "field `total` fails rule `min`: -3 is below 0");
//! ```

mod check;
mod convert;
mod decode;
mod encode;
mod integrator;
mod json;
mod json_parser;
mod logfmt;
mod message;
mod path;
mod pipeline;
mod raw;
mod rejection;
mod rules;
mod schema;

pub use encode::EncodeError;
pub use integrator::{Integrator, IntegratorBuilder, QueueReport, DEFAULT_CHUNK_SIZE};
pub use message::Message;
pub use raw::{CsvHeader, Input, Raw, DEFAULT_SOURCE};
pub use rejection::{BatchOutcome, Reason, Rejection};
pub use rules::{
    Conversion, Convert, FieldCheck, JsonType, Placement, Rename, RuleError, RuleSet, SourceRules,
    DEFAULT_MAX_DEPTH, DEFAULT_MAX_SIZE, MAX_DEPTH_CEILING,
};
