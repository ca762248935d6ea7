//! Request buffers that are used again. A produce request of a megabyte read into a fresh
//! allocation lands in pages the kernel has to map and zero first, and grows by copies as its
//! bytes arrive; a buffer kept from an earlier request of that size is already mapped and
//! large enough. The pool keeps a few such buffers for the whole broker, bounded in count,
//! size and total bytes, so what it holds never grows with the number of connections.
//!
//! A frame read into a pooled buffer is handed out as [`Bytes`]; the buffer comes back when
//! the last slice of the frame is dropped, wherever that happens.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

/// Buffers smaller than this are cheap to allocate (the allocator serves them from memory it
/// already has) and are not kept.
const SMALLEST_KEPT: usize = 64 * 1024;
/// Buffers larger than this are released: a rare large request does not pin its memory.
const LARGEST_KEPT: usize = 4 << 20;
/// Bytes the pool holds at most, idle.
const KEPT_BYTES: usize = 16 << 20;

#[derive(Default)]
pub struct BufferPool {
    idle: Mutex<Vec<Vec<u8>>>,
}

/// A frame's buffer on its way back to the pool.
struct Recycled {
    buffer: Vec<u8>,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buffer));
    }
}

impl BufferPool {
    /// An empty buffer for a frame of `size` bytes: the smallest idle one that holds it, else
    /// a new one, which grows as the frame's bytes arrive. (Growing an idle one would copy its
    /// stale contents along.)
    pub fn take(&self, size: usize) -> Vec<u8> {
        if size < SMALLEST_KEPT {
            return Vec::new();
        }
        let mut idle = self.idle.lock();
        let fitting = idle
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= size)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        fitting.map(|i| idle.swap_remove(i)).unwrap_or_default()
    }

    /// The frame in `buffer`, as `Bytes` that return the buffer to the pool when dropped.
    pub fn freeze(self: &Arc<Self>, buffer: Vec<u8>) -> Bytes {
        if buffer.capacity() < SMALLEST_KEPT {
            return Bytes::from(buffer);
        }
        Bytes::from_owner(Recycled {
            buffer,
            pool: self.clone(),
        })
    }

    fn give_back(&self, mut buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        if !(SMALLEST_KEPT..=LARGEST_KEPT).contains(&capacity) {
            return;
        }
        buffer.clear();
        let mut idle = self.idle.lock();
        let held: usize = idle.iter().map(Vec::capacity).sum();
        if held + capacity <= KEPT_BYTES {
            idle.push(buffer);
        }
    }

    /// Bytes held by idle buffers.
    #[cfg(test)]
    fn idle_bytes(&self) -> usize {
        self.idle.lock().iter().map(Vec::capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_frame_returns_its_buffer_for_the_next_large_frame() {
        let pool = Arc::new(BufferPool::default());
        let mut buffer = pool.take(1 << 20);
        buffer.resize(1 << 20, 7);
        let address = buffer.as_ptr();
        let frame = pool.freeze(buffer);
        let slice = frame.slice(10..20);
        drop(frame);
        assert_eq!(pool.idle_bytes(), 0, "a slice still holds the buffer");
        assert_eq!(&slice[..], &[7u8; 10]);
        drop(slice);
        assert!(pool.idle_bytes() >= 1 << 20);
        let again = pool.take(1 << 20);
        assert_eq!(again.as_ptr(), address);
        assert!(again.is_empty());
    }

    #[test]
    fn small_and_oversized_buffers_are_not_kept_and_the_total_is_bounded() {
        let pool = Arc::new(BufferPool::default());
        drop(pool.freeze(vec![1; 100]));
        drop(pool.freeze(vec![1; LARGEST_KEPT + 1]));
        assert_eq!(pool.idle_bytes(), 0);
        let frames: Vec<Bytes> = (0..8).map(|_| pool.freeze(vec![0; LARGEST_KEPT])).collect();
        drop(frames);
        assert!(pool.idle_bytes() <= KEPT_BYTES);
        assert_eq!(pool.idle_bytes(), KEPT_BYTES);
    }
}
