//! Layer 2: wait-free handoff and waiting. (In progress.)
