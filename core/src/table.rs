//! A list over caller-provided storage: the execution books' one container (actions in
//! flight, completed actions remembered for rollback).
//!
//! The slice is the capacity: the table never allocates and never grows. Removing an element
//! puts a default value in the slot it leaves, so nothing is cloned on the way out.

/// At most `slots.len()` elements, in `slots[..len]`.
#[derive(Debug)]
pub struct Table<'a, T> {
    slots: &'a mut [T],
    len: usize,
}

impl<'a, T: Default> Table<'a, T> {
    /// An empty table holding at most `slots.len()` elements. What `slots` holds is ignored.
    pub fn new(slots: &'a mut [T]) -> Self {
        Self { slots, len: 0 }
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

    /// Whether it holds [`Table::capacity`] elements.
    pub fn is_full(&self) -> bool {
        self.len == self.slots.len()
    }

    /// The elements, in order.
    pub fn as_slice(&self) -> &[T] {
        self.slots.get(..self.len).unwrap_or(&[])
    }

    /// The elements, in order, to change.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.slots.get_mut(..self.len).unwrap_or(&mut [])
    }

    /// The elements, in order.
    pub fn iter(&self) -> core::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    /// The elements, in order, to change.
    pub fn iter_mut(&mut self) -> core::slice::IterMut<'_, T> {
        self.as_mut_slice().iter_mut()
    }

    /// Adds `value` at the end; gives it back when full.
    pub fn push(&mut self, value: T) -> Result<(), T> {
        match self.slots.get_mut(self.len) {
            Some(slot) => *slot = value,
            None => return Err(value),
        }
        self.len += 1;
        Ok(())
    }

    /// Removes the element at `index`, keeping the others' order (the later ones move up).
    pub fn remove(&mut self, index: usize) -> Option<T> {
        let tail = self.slots.get_mut(index..self.len)?;
        tail.rotate_left(1);
        self.len -= 1;
        self.slots.get_mut(self.len).map(core::mem::take)
    }

    /// Keeps only the elements `keep` accepts, in their order, in one pass.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let mut kept = 0;
        for i in 0..self.len {
            if self.slots.get(i).is_some_and(&mut keep) {
                self.slots.swap(kept, i);
                kept += 1;
            }
        }
        for slot in self.slots.get_mut(kept..self.len).into_iter().flatten() {
            *slot = T::default();
        }
        self.len = kept;
    }

    /// Removes the element at `index`; the last element takes its place.
    pub fn swap_remove(&mut self, index: usize) -> Option<T> {
        if index >= self.len {
            return None;
        }
        self.slots.swap(index, self.len - 1);
        self.len -= 1;
        self.slots.get_mut(self.len).map(core::mem::take)
    }
}
