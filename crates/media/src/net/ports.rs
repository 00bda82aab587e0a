//! UDP port allocation from a configured range.

use std::collections::BTreeSet;

/// Hands out RTP ports from `[min, max]`: even ports, with the odd port above reserved
/// for RTCP (RFC 3550 §11) unless every stream uses rtcp-mux. Allocation rotates
/// through the range so a just-released port is not reused at once (late packets of
/// the old call would land in the new one).
#[derive(Debug, Clone)]
pub struct PortAllocator {
    // u32 so that range ends near 65535 cannot overflow.
    min: u32,
    max: u32,
    step: u32,
    next: u32,
    used: BTreeSet<u16>,
}

impl PortAllocator {
    /// A range `min..=max`; with `pairs`, only even ports are handed out and each
    /// reserves the next odd one.
    pub fn new(min: u16, max: u16, pairs: bool) -> Self {
        let step = if pairs { 2 } else { 1 };
        let min = u32::from(min);
        let min = if pairs { min.next_multiple_of(2) } else { min };
        PortAllocator {
            min,
            max: u32::from(max),
            step,
            next: min,
            used: BTreeSet::new(),
        }
    }

    /// Ports (or pairs) free.
    pub fn available(&self) -> usize {
        let total = if self.max < self.min + self.step - 1 {
            0
        } else {
            ((self.max - self.min + 1) / self.step) as usize
        };
        total.saturating_sub(self.used.len())
    }

    /// The next free port, or `None` when the range is exhausted. The caller binds it;
    /// if binding fails (another program holds it) it should call `allocate` again and
    /// leave the failed port allocated until it can be released.
    pub fn allocate(&mut self) -> Option<u16> {
        let slots = self.available() + self.used.len();
        for _ in 0..slots {
            let p = self.next;
            let after = p + self.step;
            self.next = if after + self.step - 1 > self.max {
                self.min
            } else {
                after
            };
            // In range by construction: p <= max <= 65535.
            let p = u16::try_from(p).ok()?;
            if self.used.insert(p) {
                return Some(p);
            }
        }
        None
    }

    /// Returns a port to the range.
    pub fn release(&mut self, port: u16) {
        self.used.remove(&port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_pairs_rotate_and_exhaust() {
        let mut a = PortAllocator::new(30001, 30008, true);
        assert_eq!(a.available(), 3);
        assert_eq!(a.allocate(), Some(30002));
        assert_eq!(a.allocate(), Some(30004));
        assert_eq!(a.allocate(), Some(30006));
        assert_eq!(a.allocate(), None);
        a.release(30002);
        assert_eq!(a.allocate(), Some(30002));
    }

    #[test]
    fn released_port_is_not_reused_at_once() {
        let mut a = PortAllocator::new(40000, 40009, false);
        let p = a.allocate().unwrap();
        a.release(p);
        assert_ne!(a.allocate(), Some(p));
    }

    #[test]
    fn degenerate_ranges_do_not_panic() {
        let mut a = PortAllocator::new(65535, 65535, true);
        assert_eq!(a.available(), 0);
        assert_eq!(a.allocate(), None);
        let mut b = PortAllocator::new(5000, 4000, false);
        assert_eq!(b.allocate(), None);
        let mut c = PortAllocator::new(65535, 65535, false);
        assert_eq!(c.allocate(), Some(65535));
        assert_eq!(c.allocate(), None);
    }

    #[test]
    fn range_end_at_u16_max() {
        let mut a = PortAllocator::new(65530, 65535, true);
        let got: Vec<_> = std::iter::from_fn(|| a.allocate()).collect();
        assert_eq!(got, [65530, 65532, 65534]);
    }
}
