//! Receiving on many sockets without readiness polling: one multishot `recvmsg` per
//! socket on an io_uring, with the datagrams landing in a ring of provided buffers
//! (kernel 6.0 or later).
//!
//! Why: with `epoll` plus one receive per ready socket, every datagram costs the
//! readiness bookkeeping, a receive request set up from user space (message header and
//! iovec copied in, file looked up) and, to learn that the socket is drained, one more
//! receive that fails with EAGAIN (UDP sockets do not report what is left queued). A
//! multishot receive is armed once per socket; each datagram then becomes one
//! completion whose buffer the engine reads and hands back, and one `io_uring_enter`
//! collects every datagram that arrived on every socket since the last wake-up.
//!
//! Like `batch`, this module holds `unsafe` code: the buffer ring is memory shared with
//! the kernel, which std and the io-uring crate cannot express safely. The ring and the
//! buffers are allocated once, never resized, and freed only after every request was
//! cancelled and the kernel gave the buffer ring back.
#![allow(unsafe_code)]

use std::alloc::{self, Layout};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::types::{BufRingEntry, CancelBuilder, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, types};

use super::batch::MAX_DATAGRAM;

/// The buffer group id of the ring's buffers.
const GROUP: u16 = 0;
/// Header the kernel writes before each datagram (`struct io_uring_recvmsg_out`).
const OUT_HEADER: usize = 16;
/// Room for the source address: `sockaddr_in6`, the larger of the two families.
const NAME_LEN: usize = 28;
/// Bytes per provided buffer: header, address, payload.
const BUF_SIZE: usize = OUT_HEADER + NAME_LEN + MAX_DATAGRAM;

/// One completion, as [`RxRing::drain`] hands it over with its request's user data:
/// a datagram (its bytes, writable for in-place rewriting, and its source), a datagram
/// that could not be read, or the negative errno the request ended with.
///
/// A datagram from a socket whose source is neither IPv4 nor IPv6 (a Unix datagram
/// socket, whose sender has no address) comes as [`Completion::Malformed`]: its arrival
/// is all there is to learn from it.
pub enum Completion<'a> {
    /// A datagram.
    Datagram(&'a mut [u8], SocketAddr),
    /// A truncated or unreadable datagram, dropped.
    Malformed,
    /// The request failed or was cancelled (negative errno).
    Error(i32),
    /// A readiness poll armed with [`RxRing::arm_poll`] fired.
    Ready,
}

/// Multishot receives on an io_uring with a ring of provided buffers.
///
/// The loop that owns it: [`RxRing::arm`] each socket once with a user data of its
/// choosing (its own way to tell a socket from an earlier one in the same place),
/// [`RxRing::wait`] for completions, [`RxRing::drain`] them, and arm again each socket
/// whose request ended (the `armed` flag false: typically `-ENOBUFS` when a wake-up
/// found more datagrams than buffers; the rest waits in the socket). Before closing a
/// socket, [`RxRing::cancel`] its receive: the kernel holds the socket while it is
/// armed. The ring belongs to the first thread that waits on it.
///
/// ```
/// use std::net::UdpSocket;
/// use std::os::fd::AsRawFd;
/// use std::time::Duration;
/// use switchyard_media::net::{Completion, RxRing};
///
/// // Where io_uring or buffer rings are unavailable, poll the sockets instead.
/// let Ok(mut rx) = RxRing::new(64) else { return Ok(()) };
/// let socket = UdpSocket::bind("127.0.0.1:0")?;
/// rx.arm(socket.as_raw_fd(), 1)?;
/// rx.wait(Some(Duration::ZERO))?; // submits the receive
/// UdpSocket::bind("127.0.0.1:0")?.send_to(b"hello", socket.local_addr()?)?;
/// let mut got = Vec::new();
/// while got.is_empty() {
///     rx.wait(Some(Duration::from_millis(100)))?;
///     rx.drain(|user_data, completion, _armed| {
///         if let Completion::Datagram(bytes, _from) = completion {
///             got.push((user_data, bytes.to_vec()));
///         }
///     });
/// }
/// assert_eq!(got, [(1, b"hello".to_vec())]);
/// rx.cancel(1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RxRing {
    ring: IoUring,
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    bufs: Box<[u8]>,
    count: u16,
    /// Our copy of the ring's tail (the kernel only reads it).
    tail: u16,
    /// The header template every multishot receive is armed with: address room only.
    msghdr: Box<libc::msghdr>,
    cqes: Vec<(u64, i32, u32)>,
    /// Requests queued but not yet submitted.
    unsubmitted: usize,
    /// Whether the ring was enabled, binding it to the thread that did it.
    enabled: bool,
    /// Receives armed before the ring was enabled (file descriptor, user data).
    pending: Vec<(RawFd, u64)>,
    /// Polls armed before the ring was enabled (file descriptor, user data).
    pending_polls: Vec<(RawFd, u64)>,
    /// The descriptor of every request armed (and whether it is a poll), by user data,
    /// to arm one that ended again.
    armed: HashMap<u64, (RawFd, bool)>,
    /// Requests that ended during a drain and are to be armed again after it.
    ended: Vec<u64>,
}

// SAFETY: the raw pointers point only into memory the ring owns; moving it to another
// thread moves that ownership with it.
unsafe impl Send for RxRing {}

impl RxRing {
    /// A ring of `count` (a power of two) buffers. Fails where io_uring, multishot
    /// receive or buffer rings are unavailable; the caller then polls for readiness.
    pub fn new(count: u16) -> io::Result<Self> {
        if !count.is_power_of_two() {
            return Err(io::Error::other("buffer count must be a power of two"));
        }
        let ring = IoUring::builder()
            // Do the kernel's receive work when the thread enters the ring to collect
            // completions, not by interrupting it (and its batching sleep) as each
            // datagram arrives. This needs a single issuing thread: the ring starts
            // disabled and is enabled by the first thread that uses it.
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_r_disabled()
            .setup_cqsize(4 * u32::from(count))
            .build(256)?;
        let entries_layout = Layout::from_size_align(
            usize::from(count) * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .map_err(io::Error::other)?;
        // SAFETY: the layout has a non-zero size.
        let entries = unsafe { alloc::alloc_zeroed(entries_layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let bufs = vec![0u8; usize::from(count) * BUF_SIZE].into_boxed_slice();
        // SAFETY: msghdr is a plain C struct; all-zero is valid.
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msghdr.msg_namelen = NAME_LEN as libc::socklen_t;
        let mut rx = RxRing {
            ring,
            entries,
            entries_layout,
            bufs,
            count,
            tail: 0,
            msghdr,
            cqes: Vec::with_capacity(4 * usize::from(count)),
            unsubmitted: 0,
            enabled: false,
            pending: Vec::new(),
            pending_polls: Vec::new(),
            armed: HashMap::new(),
            ended: Vec::new(),
        };
        // SAFETY: `entries` is page aligned, zeroed and `count` entries long; it and
        // `bufs` are freed only after the kernel gave them back (see Drop).
        unsafe {
            rx.ring
                .submitter()
                .register_buf_ring_with_flags(rx.entries as u64, count, GROUP, 0)?;
        }
        for bid in 0..count {
            rx.provide(bid);
        }
        rx.publish();
        Ok(rx)
    }

    /// Puts buffer `bid` back in the ring (seen by the kernel after [`Self::publish`]).
    fn provide(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.count - 1));
        let addr = self.bufs[usize::from(bid) * BUF_SIZE..].as_ptr() as u64;
        // SAFETY: slot < count, inside the allocation; the kernel does not write entries.
        let e = unsafe { &mut *self.entries.add(slot) };
        e.set_addr(addr);
        e.set_len(BUF_SIZE as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the buffers provided so far visible to the kernel.
    fn publish(&mut self) {
        // SAFETY: the tail field lives in the first entry of our allocation and is
        // 2-byte aligned; the kernel reads it concurrently, hence the atomic store.
        let tail = unsafe { &*BufRingEntry::tail(self.entries).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }

    /// Enables the ring for the calling thread, the only one that may use it from now
    /// on, and arms the receives asked for until then.
    fn enable(&mut self) -> io::Result<()> {
        if !self.enabled {
            self.ring.submitter().register_enable_rings()?;
            self.enabled = true;
            for (fd, user_data) in std::mem::take(&mut self.pending) {
                self.arm(fd, user_data)?;
            }
            for (fd, user_data) in std::mem::take(&mut self.pending_polls) {
                self.arm_poll(fd, user_data)?;
            }
        }
        Ok(())
    }

    /// Arms a multishot receive on `fd`; its completions carry `user_data`. Submitted
    /// with the next [`Self::wait`]. The first [`Self::wait`] binds the ring to the
    /// calling thread; until then receives can be armed and cancelled from any thread.
    pub fn arm(&mut self, fd: RawFd, user_data: u64) -> io::Result<()> {
        self.armed.insert(user_data, (fd, false));
        if !self.enabled {
            self.pending.push((fd, user_data));
            return Ok(());
        }
        let sqe = opcode::RecvMsgMulti::new(types::Fd(fd), &*self.msghdr, GROUP)
            .build()
            .user_data(user_data);
        self.push(&sqe)
    }

    /// Arms a multishot readiness poll (`POLLIN`) on `fd`, for a descriptor whose data
    /// is not read by a receive request (an AF_XDP socket's RX ring, an eventfd): its
    /// completions carry `user_data` and wake [`Self::wait`] like a datagram would.
    pub fn arm_poll(&mut self, fd: RawFd, user_data: u64) -> io::Result<()> {
        self.armed.insert(user_data, (fd, true));
        if !self.enabled {
            self.pending_polls.push((fd, user_data));
            return Ok(());
        }
        let sqe = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(user_data);
        self.push(&sqe)
    }

    fn push(&mut self, sqe: &io_uring::squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every request's memory (the receive header template) is boxed and
            // lives as long as the ring.
            match unsafe { self.ring.submission().push(sqe) } {
                Ok(()) => break,
                Err(_) => {
                    self.ring.submit()?;
                    self.unsubmitted = 0;
                }
            }
        }
        self.unsubmitted += 1;
        Ok(())
    }

    /// Cancels the receive armed with `user_data` and returns once the kernel has let
    /// go of its socket (the socket can then be closed and its port bound again).
    pub fn cancel(&mut self, user_data: u64) {
        self.armed.remove(&user_data);
        if !self.enabled {
            self.pending.retain(|p| p.1 != user_data);
            self.pending_polls.retain(|p| p.1 != user_data);
            return;
        }
        if self.unsubmitted > 0 {
            let _ = self.ring.submit();
            self.unsubmitted = 0;
        }
        let _ = self
            .ring
            .submitter()
            .register_sync_cancel(None, CancelBuilder::user_data(user_data));
        // The request lets go of the socket in deferred work, which runs when the
        // thread collects completions: do that now (the completions stay queued).
        let _ = self.wait(Some(Duration::ZERO));
    }

    /// Submits what is queued and waits up to `timeout` (`None`: forever) for at least
    /// one completion.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.enable()?;
        self.unsubmitted = 0;
        let res = match timeout {
            Some(t) => {
                let ts = Timespec::from(t);
                let args = SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::ETIME)
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Hands every completion to `each` with whether its request is still armed, and
    /// gives the buffers back to the kernel afterwards.
    pub fn drain(&mut self, mut each: impl FnMut(u64, Completion<'_>, bool)) {
        self.cqes.clear();
        self.cqes.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        if self.cqes.is_empty() {
            return;
        }
        for i in 0..self.cqes.len() {
            let (user_data, res, flags) = self.cqes[i];
            let more = cqueue::more(flags);
            let Some(bid) = cqueue::buffer_select(flags) else {
                // Only a poll completes with a positive result (its event mask) and no
                // buffer.
                let c = if res > 0 {
                    Completion::Ready
                } else {
                    Completion::Error(res.min(-1))
                };
                each(user_data, c, more);
                continue;
            };
            let start = usize::from(bid) * BUF_SIZE;
            let len = usize::try_from(res).unwrap_or(0).min(BUF_SIZE);
            match parse(&mut self.bufs[start..start + len]) {
                Some((payload, src)) => each(user_data, Completion::Datagram(payload, src), more),
                None => each(user_data, Completion::Malformed, more),
            }
            self.provide(bid);
        }
        self.publish();
    }

    /// Like [`Self::drain`], and then arms again, on its descriptor, every receive that
    /// ended for want of buffers (its datagrams waited in the socket) and every poll that
    /// ended, now that this wake-up's buffers are back. A request that failed otherwise
    /// is left unarmed rather than failing again at once (`each` sees its error, to say
    /// so), and so is one cancelled meanwhile.
    pub fn drain_rearming(&mut self, mut each: impl FnMut(u64, Completion<'_>)) -> io::Result<()> {
        let mut ended = std::mem::take(&mut self.ended);
        let mut failed_requests = Vec::new();
        self.drain(|user_data, completion, armed| {
            let out_of_buffers = matches!(completion, Completion::Error(e) if e == -libc::ENOBUFS);
            let failed = matches!(completion, Completion::Error(_)) && !out_of_buffers;
            if !armed && !failed {
                ended.push(user_data);
            }
            if !armed && failed {
                failed_requests.push(user_data);
            }
            if !out_of_buffers {
                each(user_data, completion);
            }
        });
        for user_data in failed_requests {
            self.armed.remove(&user_data);
        }
        let mut result = Ok(());
        for &user_data in &ended {
            result = match self.armed.get(&user_data) {
                Some(&(fd, true)) => self.arm_poll(fd, user_data),
                Some(&(fd, false)) => self.arm(fd, user_data),
                None => Ok(()),
            };
            if result.is_err() {
                break;
            }
        }
        ended.clear();
        self.ended = ended;
        result
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // End every request and take the buffer ring back from the kernel before the
        // memory goes; if that cannot be confirmed, leak the memory rather than free it
        // under the kernel.
        let submitter = self.ring.submitter();
        let cancelled = if self.enabled {
            submitter.register_sync_cancel(None, CancelBuilder::any())
        } else {
            Ok(())
        };
        let released = cancelled
            .or_else(|e| {
                // ENOENT: nothing was left to cancel.
                if e.raw_os_error() == Some(libc::ENOENT) {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .and_then(|()| submitter.unregister_buf_ring(GROUP))
            .is_ok();
        if released {
            // SAFETY: allocated in `new` with this layout; the kernel no longer uses it.
            unsafe { alloc::dealloc(self.entries.cast(), self.entries_layout) };
        } else {
            Box::leak(std::mem::take(&mut self.bufs));
        }
    }
}

/// Splits a multishot receive buffer (`io_uring_recvmsg_out`, the address, the
/// payload) into the payload and its source. `None` if the datagram was truncated or
/// the address is not IPv4 or IPv6.
fn parse(buf: &mut [u8]) -> Option<(&mut [u8], SocketAddr)> {
    let word =
        |i: usize| -> Option<u32> { Some(u32::from_ne_bytes(buf.get(i..i + 4)?.try_into().ok()?)) };
    let namelen = word(0)? as usize;
    let payloadlen = word(8)? as usize;
    let flags = word(12)?;
    if flags & libc::MSG_TRUNC as u32 != 0 {
        return None;
    }
    let name = buf.get(OUT_HEADER..OUT_HEADER + namelen.min(NAME_LEN))?;
    let family = u16::from_ne_bytes([*name.first()?, *name.get(1)?]);
    let port = u16::from_be_bytes([*name.get(2)?, *name.get(3)?]);
    let src = match i32::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = name.get(4..8)?.try_into().ok()?;
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port))
        }
        libc::AF_INET6 => {
            let flow = u32::from_be_bytes(name.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = name.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(name.get(24..28)?.try_into().ok()?);
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope))
        }
        _ => return None,
    };
    let start = OUT_HEADER + NAME_LEN;
    let end = start + payloadlen;
    Some((buf.get_mut(start..end)?, src))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    fn collect(rx: &mut RxRing) -> Vec<(u64, Vec<u8>, Option<SocketAddr>, bool)> {
        let mut got = Vec::new();
        rx.drain(|ud, c, more| match c {
            Completion::Datagram(p, src) => got.push((ud, p.to_vec(), Some(src), more)),
            Completion::Malformed => got.push((ud, b"malformed".to_vec(), None, more)),
            Completion::Error(e) => got.push((ud, e.to_string().into_bytes(), None, more)),
            Completion::Ready => got.push((ud, b"ready".to_vec(), None, more)),
        });
        got
    }

    #[test]
    fn a_readiness_poll_fires_each_time_its_descriptor_becomes_readable() {
        let Ok(mut rx) = RxRing::new(4) else { return };
        // A socket read outside the ring stands for any descriptor polled this way.
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.arm_poll(a.as_raw_fd(), 9).unwrap();
        rx.wait(Some(Duration::ZERO)).unwrap();
        assert!(collect(&mut rx).is_empty(), "nothing to read yet");
        for round in 0..2u8 {
            tx.send_to(&[round], a.local_addr().unwrap()).unwrap();
            let mut got = Vec::new();
            while got.is_empty() {
                rx.wait(Some(Duration::from_millis(200))).unwrap();
                got = collect(&mut rx);
            }
            assert_eq!(
                got,
                vec![(9, b"ready".to_vec(), None, true)],
                "round {round}"
            );
            // Read it, so the next datagram makes the socket readable again.
            let mut buf = [0u8; 4];
            assert_eq!(a.recv(&mut buf).unwrap(), 1);
        }
    }

    #[test]
    fn every_datagram_on_every_socket_arrives_with_its_source() {
        // Where the kernel lacks io_uring or buffer rings the engine polls instead.
        let Ok(mut rx) = RxRing::new(8) else { return };
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.arm(a.as_raw_fd(), 1).unwrap();
        rx.arm(b.as_raw_fd(), 2).unwrap();
        rx.wait(Some(Duration::ZERO)).unwrap();
        // More datagrams than buffers, over several rounds: buffers come back.
        let mut got = Vec::new();
        for round in 0..4u8 {
            for i in 0..3u8 {
                tx.send_to(&[round, i, 1], a.local_addr().unwrap()).unwrap();
                tx.send_to(&[round, i, 2], b.local_addr().unwrap()).unwrap();
            }
            while got.len() < 6 * usize::from(round + 1) {
                rx.wait(Some(Duration::from_millis(200))).unwrap();
                got.extend(collect(&mut rx));
            }
        }
        assert_eq!(got.len(), 24);
        for (ud, data, src, more) in &got {
            assert!(*more, "still armed");
            assert_eq!(*src, Some(tx.local_addr().unwrap()));
            assert_eq!(u64::from(data[2]), *ud);
        }
        let on_a: Vec<_> = got
            .iter()
            .filter(|g| g.0 == 1)
            .map(|g| g.1.clone())
            .collect();
        assert_eq!(on_a.len(), 12);
        assert_eq!(on_a[0], vec![0, 0, 1]);
        assert_eq!(on_a[11], vec![3, 2, 1]);
    }

    #[test]
    fn datagrams_beyond_the_buffers_wait_in_the_socket_until_armed_again() {
        let Ok(mut rx) = RxRing::new(4) else { return };
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.arm(a.as_raw_fd(), 5).unwrap();
        rx.wait(Some(Duration::ZERO)).unwrap();
        for i in 0..6u8 {
            tx.send_to(&[i], a.local_addr().unwrap()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        // Four buffers: four datagrams, then the receive ends for want of buffers.
        rx.wait(Some(Duration::from_millis(200))).unwrap();
        let first = collect(&mut rx);
        let data: Vec<Vec<u8>> = first
            .iter()
            .filter(|g| g.2.is_some())
            .map(|g| g.1.clone())
            .collect();
        assert_eq!(data, vec![vec![0], vec![1], vec![2], vec![3]], "{first:?}");
        let last = first.last().unwrap();
        assert_eq!(
            (last.1.clone(), last.3),
            ((-libc::ENOBUFS).to_string().into_bytes(), false),
            "{first:?}"
        );
        // The buffers are back: armed again, the rest arrives, in order.
        rx.arm(a.as_raw_fd(), 5).unwrap();
        let mut rest = Vec::new();
        while rest.len() < 2 {
            rx.wait(Some(Duration::from_millis(200))).unwrap();
            rest.extend(
                collect(&mut rx)
                    .into_iter()
                    .filter(|g| g.2.is_some())
                    .map(|g| g.1),
            );
        }
        assert_eq!(rest, vec![vec![4], vec![5]]);
    }

    #[test]
    fn receives_that_ran_out_of_buffers_are_armed_again_and_failed_ones_are_not() {
        let Ok(mut rx) = RxRing::new(4) else { return };
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.arm(a.as_raw_fd(), 5).unwrap();
        rx.wait(Some(Duration::ZERO)).unwrap();
        for i in 0..10u8 {
            tx.send_to(&[i], a.local_addr().unwrap()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        // Four buffers per wake-up: every datagram still arrives, in order, with no
        // out-of-buffers error shown, because the receive is armed again each time.
        let mut got = Vec::new();
        for _ in 0..20 {
            rx.wait(Some(Duration::from_millis(50))).unwrap();
            rx.drain_rearming(|ud, c| match c {
                Completion::Datagram(p, _) => got.push((ud, p[0])),
                _ => panic!("only datagrams expected"),
            })
            .unwrap();
            if got.len() == 10 {
                break;
            }
        }
        assert_eq!(got, (0..10u8).map(|i| (5, i)).collect::<Vec<_>>());
        // A receive that failed (here: cancelled) is not armed again.
        rx.cancel(5);
        let mut errors = Vec::new();
        rx.drain_rearming(|ud, c| {
            if let Completion::Error(e) = c {
                errors.push((ud, e));
            }
        })
        .unwrap();
        assert_eq!(errors, vec![(5, -libc::ECANCELED)]);
        tx.send_to(&[99], a.local_addr().unwrap()).unwrap();
        rx.wait(Some(Duration::from_millis(50))).unwrap();
        let mut after = 0;
        rx.drain_rearming(|_, _| after += 1).unwrap();
        assert_eq!(after, 0, "nothing armed on the socket any more");
    }

    #[test]
    fn a_cancelled_receive_lets_go_of_its_port() {
        let Ok(mut rx) = RxRing::new(8) else { return };
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = a.local_addr().unwrap();
        rx.arm(a.as_raw_fd(), 7).unwrap();
        rx.wait(Some(Duration::ZERO)).unwrap();
        rx.cancel(7);
        drop(a);
        UdpSocket::bind(addr).expect("port free once the receive is cancelled");
        let got = collect(&mut rx);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 7);
        assert!(!got[0].3, "the request ended");
    }

    #[test]
    fn ipv6_sources_are_read() {
        let Ok(mut rx) = RxRing::new(4) else { return };
        let Ok(a) = UdpSocket::bind("[::1]:0") else {
            return;
        };
        let tx = UdpSocket::bind("[::1]:0").unwrap();
        rx.arm(a.as_raw_fd(), 3).unwrap();
        rx.wait(Some(Duration::ZERO)).unwrap();
        tx.send_to(b"v6", a.local_addr().unwrap()).unwrap();
        let mut got = Vec::new();
        while got.is_empty() {
            rx.wait(Some(Duration::from_millis(200))).unwrap();
            got = collect(&mut rx);
        }
        assert_eq!(got[0].1, b"v6");
        assert_eq!(got[0].2, Some(tx.local_addr().unwrap()));
    }
}
