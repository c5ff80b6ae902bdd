//! The per-thread buffer an append frames its records in before it takes the journal's lock,
//! so that an append allocates nothing once a thread has appended a record of its size.

use std::cell::RefCell;

/// A buffer kept above this capacity after an append is freed rather than kept for the next
/// (a 16 MiB record should not pin 16 MiB on every thread that ever appended one).
const KEEP_BYTES: usize = 1 << 20;

thread_local! {
    /// Empty between appends; only `with_frames` touches it.
    static FRAMES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with an empty buffer: this thread's own, or a new one when this thread's is in use
/// (an append from inside a record writer) or gone (an append from a thread-local destructor).
/// The buffer is cleared afterwards, also when `f` panics.
pub(super) fn with_frames<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    /// Clears the borrowed buffer on the way out, panicking or not.
    struct Clear<'a>(std::cell::RefMut<'a, Vec<u8>>);
    impl Drop for Clear<'_> {
        fn drop(&mut self) {
            self.0.clear();
            if self.0.capacity() > KEEP_BYTES {
                *self.0 = Vec::new();
            }
        }
    }
    let mut f = Some(f);
    let result = FRAMES.try_with(|cell| {
        let buffer = cell.try_borrow_mut().ok()?;
        let mut buffer = Clear(buffer);
        let f = f.take().expect("called once");
        Some(f(&mut buffer.0))
    });
    match result {
        Ok(Some(r)) => r,
        // In use or destroyed: `f` was not called.
        _ => (f.take().expect("not called yet"))(&mut Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::with_frames;

    #[test]
    fn nested_use_gets_its_own_buffer_and_the_buffer_is_kept() {
        let capacity = with_frames(|outer| {
            outer.extend_from_slice(b"outer");
            let inner = with_frames(|inner| {
                assert!(inner.is_empty());
                inner.extend_from_slice(b"inner");
                inner.clone()
            });
            assert_eq!(inner, b"inner");
            assert_eq!(outer, b"outer");
            outer.capacity()
        });
        with_frames(|again| {
            assert!(again.is_empty(), "cleared after use");
            assert_eq!(again.capacity(), capacity, "kept for the next append");
        });
    }

    #[test]
    fn a_panic_leaves_the_buffer_empty_and_usable() {
        let caught = std::panic::catch_unwind(|| {
            with_frames(|out| {
                out.extend_from_slice(b"half a record");
                panic!("the record writer failed");
            })
        });
        assert!(caught.is_err());
        with_frames(|out| assert!(out.is_empty()));
    }

    #[test]
    fn a_large_buffer_is_not_kept() {
        with_frames(|out| out.resize(super::KEEP_BYTES + 1, 0));
        with_frames(|out| assert!(out.capacity() <= super::KEEP_BYTES));
    }
}
