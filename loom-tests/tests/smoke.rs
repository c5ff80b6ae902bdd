#![cfg(mqsync_loom)]
//! Checks that the loom build of mqsync links.
#[test]
fn loom_build_links() {
    loom::model(|| {
        let q = mqsync::MsQueue::new();
        q.push(1);
        assert_eq!(q.pop(), Some(1));
    });
}
