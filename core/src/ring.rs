//! A first-in first-out queue over caller-provided storage: the one ring every bounded
//! history of the core is built on (the ledger's spans, the deduplicator's arrivals).
//!
//! The slice is the capacity: the ring never allocates and never grows. Elements are `Copy`
//! so that a slot can be overwritten without running anything.

/// A FIFO of at most `slots.len()` elements, oldest at the front.
#[derive(Debug)]
pub struct Ring<'a, T> {
    slots: &'a mut [T],
    /// Index in `slots` of the oldest element.
    head: usize,
    len: usize,
}

impl<'a, T: Copy> Ring<'a, T> {
    /// An empty ring holding at most `slots.len()` elements. What `slots` holds is ignored.
    pub fn new(slots: &'a mut [T]) -> Self {
        Self {
            slots,
            head: 0,
            len: 0,
        }
    }

    /// The most elements it holds.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// How many elements it holds.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it holds [`Ring::capacity`] elements.
    pub fn is_full(&self) -> bool {
        self.len == self.slots.len()
    }

    /// Adds `value` at the back; gives it back when full.
    pub fn push_back(&mut self, value: T) -> Result<(), T> {
        if self.is_full() {
            return Err(value);
        }
        let index = self.index(self.len);
        match self.slots.get_mut(index) {
            Some(slot) => *slot = value,
            None => return Err(value),
        }
        self.len += 1;
        Ok(())
    }

    /// Removes the oldest element.
    pub fn pop_front(&mut self) -> Option<T> {
        let value = self.front()?;
        self.head = self.index(1);
        self.len -= 1;
        Some(value)
    }

    /// The oldest element.
    pub fn front(&self) -> Option<T> {
        self.get(0)
    }

    /// The newest element.
    pub fn back(&self) -> Option<T> {
        self.get(self.len.checked_sub(1)?)
    }

    /// The element `position` places after the oldest.
    pub fn get(&self, position: usize) -> Option<T> {
        if position >= self.len {
            return None;
        }
        self.slots.get(self.index(position)).copied()
    }

    /// The elements, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = T> + ExactSizeIterator + '_
    where
        T: Default,
    {
        // Every position below `len` holds an element: the default is never produced.
        (0..self.len).map(move |position| self.get(position).unwrap_or_default())
    }

    /// The index in `slots` of the element `position` places after the oldest.
    fn index(&self, position: usize) -> usize {
        // head < capacity (or both 0) and position <= capacity, so the sum is below twice the
        // capacity: one subtraction wraps it, no division.
        let index = self.head + position;
        let capacity = self.slots.len();
        if index >= capacity {
            index - capacity
        } else {
            index
        }
    }
}
