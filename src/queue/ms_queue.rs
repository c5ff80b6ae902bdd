//! TEMPORARY bootstrap stub (replaced by the real lock-free MsQueue before merging to main).
#![allow(missing_docs, dead_code)]
use super::{Fifo, Full};
use std::collections::VecDeque;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct MsQueue<T> { q: Mutex<VecDeque<T>> }
impl<T> MsQueue<T> {
    pub fn new() -> Self { MsQueue { q: Mutex::new(VecDeque::new()) } }
    pub fn push(&self, v: T) { self.q.lock().unwrap().push_back(v) }
    pub fn pop(&self) -> Option<T> { self.q.lock().unwrap().pop_front() }
    pub fn peek(&self) -> Option<T> where T: Clone { self.q.lock().unwrap().front().cloned() }
    pub fn snapshot(&self) -> Vec<T> where T: Clone { self.q.lock().unwrap().iter().cloned().collect() }
    pub fn len(&self) -> usize { self.q.lock().unwrap().len() }
    pub fn is_empty(&self) -> bool { self.len() == 0 }
    pub fn push_batch(&self, it: impl IntoIterator<Item = T>) { self.q.lock().unwrap().extend(it) }
    pub fn pop_many(&self, out: &mut Vec<T>, limit: usize) -> usize { let mut q = self.q.lock().unwrap(); let n = limit.min(q.len()); out.extend(q.drain(..n)); n }
}
impl<T> Fifo<T> for MsQueue<T> {
    fn push(&self, v: T) -> Result<(), Full<T>> { MsQueue::push(self, v); Ok(()) }
    fn pop(&self) -> Option<T> { MsQueue::pop(self) }
    fn len(&self) -> usize { MsQueue::len(self) }
}
