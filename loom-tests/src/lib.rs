//! Empty: the models live in `tests/`.
