//! TEMPORARY bootstrap stub (replaced by the real lock-free RingBuffer before merging to main).
#![allow(missing_docs, dead_code)]
use super::{Fifo, Full};
use std::collections::VecDeque;
use std::sync::Mutex;

#[derive(Debug)]
pub struct RingBuffer<T> { q: Mutex<VecDeque<T>>, cap: usize }
impl<T> RingBuffer<T> {
    pub fn with_capacity(cap: usize) -> Self { assert!(cap > 0, "RingBuffer capacity must be at least 1"); RingBuffer { q: Mutex::new(VecDeque::new()), cap } }
    pub fn push(&self, v: T) -> Result<(), Full<T>> { let mut q = self.q.lock().unwrap(); if q.len() == self.cap { return Err(Full(v)); } q.push_back(v); Ok(()) }
    pub fn force_push(&self, v: T) -> Option<T> { let mut q = self.q.lock().unwrap(); let old = if q.len() == self.cap { q.pop_front() } else { None }; q.push_back(v); old }
    pub fn pop(&self) -> Option<T> { self.q.lock().unwrap().pop_front() }
    pub fn peek(&self) -> Option<T> where T: Clone { self.q.lock().unwrap().front().cloned() }
    pub fn snapshot(&self) -> Vec<T> where T: Clone { self.q.lock().unwrap().iter().cloned().collect() }
    pub fn len(&self) -> usize { self.q.lock().unwrap().len() }
    pub fn is_empty(&self) -> bool { self.len() == 0 }
    pub fn is_full(&self) -> bool { self.len() == self.cap }
    pub fn capacity(&self) -> usize { self.cap }
    pub fn pop_many(&self, out: &mut Vec<T>, limit: usize) -> usize { let mut q = self.q.lock().unwrap(); let n = limit.min(q.len()); out.extend(q.drain(..n)); n }
}
impl<T> Fifo<T> for RingBuffer<T> {
    fn push(&self, v: T) -> Result<(), Full<T>> { RingBuffer::push(self, v) }
    fn pop(&self) -> Option<T> { RingBuffer::pop(self) }
    fn len(&self) -> usize { RingBuffer::len(self) }
    fn capacity(&self) -> Option<usize> { Some(self.cap) }
}
