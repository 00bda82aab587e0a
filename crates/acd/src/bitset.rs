//! A fixed-universe bitset over agent indices.
//!
//! Written by hand because the operations the router needs (AND of three sets while
//! iterating, no allocation per decision) are a dozen lines; `fixedbitset` would do too,
//! but would still need the fused three-way iteration below.

/// A growable set of small integers (agent indices), 64 per word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    pub(crate) fn with_capacity(bits: usize) -> Self {
        Self {
            words: vec![0; bits.div_ceil(64)],
        }
    }

    fn grow(&mut self, bit: usize) {
        let need = bit / 64 + 1;
        if self.words.len() < need {
            self.words.resize(need, 0);
        }
    }

    pub(crate) fn insert(&mut self, bit: usize) {
        self.grow(bit);
        self.words[bit / 64] |= 1 << (bit % 64);
    }

    pub(crate) fn remove(&mut self, bit: usize) {
        if let Some(w) = self.words.get_mut(bit / 64) {
            *w &= !(1 << (bit % 64));
        }
    }

    pub(crate) fn set(&mut self, bit: usize, on: bool) {
        if on {
            self.insert(bit);
        } else {
            self.remove(bit);
        }
    }

    pub(crate) fn contains(&self, bit: usize) -> bool {
        self.words
            .get(bit / 64)
            .is_some_and(|w| w & (1 << (bit % 64)) != 0)
    }

    pub(crate) fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
    }

    /// `self &= other`.
    pub(crate) fn intersect_with(&mut self, other: &BitSet) {
        for (i, w) in self.words.iter_mut().enumerate() {
            *w &= other.words.get(i).copied().unwrap_or(0);
        }
    }

    /// `self |= other`.
    pub(crate) fn union_with(&mut self, other: &BitSet) {
        if self.words.len() < other.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w |= o;
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        iter_words(self.words.iter().copied())
    }

    /// Size of `self ∩ other`.
    pub(crate) fn count_and(&self, other: &BitSet) -> usize {
        self.words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| (a & b).count_ones() as usize)
            .sum()
    }

    /// Members of `self ∩ other`, without building the intersection.
    pub(crate) fn iter_and<'a>(&'a self, other: &'a BitSet) -> impl Iterator<Item = usize> + 'a {
        iter_words(self.words.iter().zip(&other.words).map(|(a, b)| a & b))
    }
}

fn iter_words(words: impl Iterator<Item = u64>) -> impl Iterator<Item = usize> {
    words.enumerate().flat_map(|(i, mut w)| {
        std::iter::from_fn(move || {
            if w == 0 {
                return None;
            }
            let bit = w.trailing_zeros() as usize;
            w &= w - 1;
            Some(i * 64 + bit)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_iterate_and_intersect() {
        let mut a = BitSet::with_capacity(10);
        a.insert(3);
        a.insert(200);
        a.insert(64);
        assert!(a.contains(200) && a.contains(3) && !a.contains(4));
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![3, 64, 200]);
        let mut b = BitSet::default();
        b.insert(64);
        b.insert(5);
        assert_eq!(a.iter_and(&b).collect::<Vec<_>>(), vec![64]);
        assert_eq!(a.count_and(&b), 1);
        a.remove(64);
        assert_eq!(a.iter_and(&b).count(), 0);
        let mut c = a.clone();
        c.union_with(&b);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![3, 5, 64, 200]);
        c.intersect_with(&b);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![5, 64]);
    }
}
