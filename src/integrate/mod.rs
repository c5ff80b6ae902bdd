//! Layer 4: message integration. (In progress.)
