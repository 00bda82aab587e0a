//! Batched UDP receive and send with `recvmmsg(2)` and `sendmmsg(2)`: one system call for
//! up to [`BATCH`] datagrams on a socket, instead of one per datagram.
//!
//! This module and `rx` are the only ones of the crate with `unsafe` code: the two
//! system calls take arrays of `mmsghdr` pointing at buffers, which std and mio do not
//! offer. Each batch
//! owns its buffers in heap allocations that are never resized, so the pointers set up
//! in `new` stay valid for the life of the batch even when the batch itself moves.
#![allow(unsafe_code)]

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// [`SendBatch::push_fixed`]'s index for a socket that is not registered.
pub(crate) const NOT_FIXED: u32 = u32::MAX;

/// Datagrams per batch.
pub const BATCH: usize = 64;
/// Largest datagram handled (RTP over Ethernet fits in 1500; leave room for jumbo).
pub const MAX_DATAGRAM: usize = 2048;

fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is a plain C struct for which all-zero bytes are valid.
    unsafe { MaybeUninit::<libc::sockaddr_storage>::zeroed().assume_init() }
}

fn zeroed_mmsghdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is a plain C struct (pointers and integers); all-zero is valid.
    unsafe { MaybeUninit::<libc::mmsghdr>::zeroed().assume_init() }
}

/// Converts a kernel-filled socket address to a `SocketAddr`.
fn to_socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in, which is smaller
            // than sockaddr_storage and has no stricter alignment.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Writes `addr` into `s`, returning the length to pass to the kernel.
fn from_socket_addr(addr: SocketAddr, s: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_in fits in sockaddr_storage with compatible alignment.
            let sin =
                unsafe { &mut *(s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            };
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &mut *(s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Submits what is queued on `ring` and waits until `n` completions were reaped,
/// passing each (user data, result) to `each`. The operations' buffers must stay
/// untouched until this returns, so it only gives up on errors other than EINTR (and
/// then the ring is unusable: the caller drops it).
fn submit_and_reap(
    ring: &mut io_uring::IoUring,
    n: usize,
    mut each: impl FnMut(u64, i32),
) -> io::Result<()> {
    let mut done = 0;
    while done < n {
        match ring.submit_and_wait(n - done) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for cqe in ring.completion() {
            each(cqe.user_data(), cqe.result());
            done += 1;
        }
    }
    Ok(())
}

/// Receives one datagram from each socket in `fds` (at most [`BATCH`]) into slots
/// `0..fds.len()` of `recv`, in one `io_uring_enter`. `results[j]` gets the length
/// received from `fds[j]`, or a negative errno (-EAGAIN when nothing was waiting: the
/// sockets are non-blocking, so io_uring does not wait for data).
pub(crate) fn recv_round(
    ring: &mut io_uring::IoUring,
    recv: &mut RecvBatch,
    fds: &[RawFd],
    results: &mut [i32],
) -> io::Result<()> {
    let n = fds.len().min(BATCH).min(results.len());
    for (j, &fd) in fds.iter().take(n).enumerate() {
        let hdr = recv.prepare_slot(j);
        // MSG_DONTWAIT makes io_uring complete with -EAGAIN instead of waiting for data.
        let sqe = io_uring::opcode::RecvMsg::new(io_uring::types::Fd(fd), hdr)
            .flags(libc::MSG_DONTWAIT as u32)
            .build()
            .user_data(j as u64);
        // SAFETY: slot j's msghdr, address and buffer belong to `recv`, which is
        // exclusively borrowed until every completion is reaped below; the ring has
        // room for BATCH entries (checked at creation).
        unsafe { ring.submission().push(&sqe) }
            .map_err(|_| io::Error::other("io_uring submission queue full"))?;
    }
    submit_and_reap(ring, n, |j, res| {
        if let Some(r) = results.get_mut(j as usize) {
            *r = res;
        }
    })
}

/// An io_uring instance for batching sends across sockets ([`SendBatch::flush_via`]).
pub struct Uring(pub(crate) io_uring::IoUring);

impl Uring {
    /// Creates a ring with room for a full batch; fails where io_uring is unavailable
    /// (old kernel, `kernel.io_uring_disabled`, seccomp), and the caller then uses
    /// [`SendBatch::flush`].
    pub fn new() -> io::Result<Self> {
        io_uring::IoUring::new(2 * BATCH as u32).map(Uring)
    }
}

/// Receive buffers for one `recvmmsg` call.
pub struct RecvBatch {
    bufs: Box<[u8]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovecs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    count: usize,
}

// SAFETY: the raw pointers inside point only into the batch's own boxes; moving the
// batch to another thread moves their ownership with it.
unsafe impl Send for RecvBatch {}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    /// Allocates [`BATCH`] buffers of [`MAX_DATAGRAM`] bytes.
    pub fn new() -> Self {
        let mut bufs = vec![0u8; BATCH * MAX_DATAGRAM].into_boxed_slice();
        let mut addrs = vec![zeroed_storage(); BATCH].into_boxed_slice();
        let mut iovecs: Box<[libc::iovec]> = (0..BATCH)
            .map(|i| libc::iovec {
                iov_base: bufs[i * MAX_DATAGRAM..].as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            })
            .collect();
        let mut hdrs = vec![zeroed_mmsghdr(); BATCH].into_boxed_slice();
        for (i, h) in hdrs.iter_mut().enumerate() {
            h.msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut iovecs[i];
            h.msg_hdr.msg_iovlen = 1;
        }
        RecvBatch {
            bufs,
            addrs,
            iovecs,
            hdrs,
            count: 0,
        }
    }

    /// Receives up to [`BATCH`] datagrams from non-blocking socket `fd`. Returns how
    /// many (0 when none is waiting).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        for h in self.hdrs.iter_mut() {
            h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_len = 0;
        }
        debug_assert_eq!(self.iovecs.len(), BATCH);
        // SAFETY: hdrs holds BATCH initialised mmsghdr whose name and iovec pointers point
        // into self.addrs and self.iovecs (and through them into self.bufs), all alive
        // and exclusively borrowed for the call; the kernel writes at most the lengths
        // given.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            self.count = 0;
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        self.count = n as usize;
        Ok(self.count)
    }

    /// Prepares slot `i` for a single-datagram receive (io_uring) and returns its
    /// `msghdr`, which stays valid as long as the batch lives and is not used otherwise.
    pub(crate) fn prepare_slot(&mut self, i: usize) -> *mut libc::msghdr {
        let h = &mut self.hdrs[i % BATCH];
        h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_len = 0;
        &mut h.msg_hdr
    }

    /// Slot `i` after a single-datagram receive of `len` bytes.
    pub(crate) fn slot_mut(&mut self, i: usize, len: usize) -> Option<(&mut [u8], SocketAddr)> {
        let i = i % BATCH;
        let len = len.min(MAX_DATAGRAM);
        let src = to_socket_addr(&self.addrs[i])?;
        Some((
            &mut self.bufs[i * MAX_DATAGRAM..i * MAX_DATAGRAM + len],
            src,
        ))
    }

    /// Datagram `i` of the last receive: its bytes (mutable, for in-place rewriting)
    /// and its source.
    pub fn get_mut(&mut self, i: usize) -> Option<(&mut [u8], SocketAddr)> {
        if i >= self.count {
            return None;
        }
        let len = (self.hdrs[i].msg_len as usize).min(MAX_DATAGRAM);
        let src = to_socket_addr(&self.addrs[i])?;
        Some((
            &mut self.bufs[i * MAX_DATAGRAM..i * MAX_DATAGRAM + len],
            src,
        ))
    }
}

/// Datagrams queued for `sendmmsg`, possibly on several sockets.
pub struct SendBatch {
    bufs: Box<[u8]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovecs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    fds: Box<[RawFd]>,
    /// The io_uring registered-file index of each datagram's socket ([`NOT_FIXED`]:
    /// none), which spares the kernel a file lookup per send.
    fixed: Box<[u32]>,
    count: usize,
    /// Datagrams the kernel refused (full socket buffer, unreachable).
    pub failed: u64,
    /// System calls made.
    pub syscalls: u64,
    /// Send through io_uring with `IORING_OP_SEND` and a destination address (kernel
    /// 6.0+) rather than `IORING_OP_SENDMSG`, sparing the kernel the copy of a message
    /// header and an iovec per datagram.
    pub(crate) send_to_op: bool,
}

// SAFETY: as for RecvBatch.
unsafe impl Send for SendBatch {}

impl Default for SendBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl SendBatch {
    /// Allocates room for [`BATCH`] datagrams.
    pub fn new() -> Self {
        let mut bufs = vec![0u8; BATCH * MAX_DATAGRAM].into_boxed_slice();
        let mut addrs = vec![zeroed_storage(); BATCH].into_boxed_slice();
        let mut iovecs: Box<[libc::iovec]> = (0..BATCH)
            .map(|i| libc::iovec {
                iov_base: bufs[i * MAX_DATAGRAM..].as_mut_ptr().cast(),
                iov_len: 0,
            })
            .collect();
        let mut hdrs = vec![zeroed_mmsghdr(); BATCH].into_boxed_slice();
        for (i, h) in hdrs.iter_mut().enumerate() {
            h.msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_iov = &mut iovecs[i];
            h.msg_hdr.msg_iovlen = 1;
        }
        SendBatch {
            bufs,
            addrs,
            iovecs,
            hdrs,
            fds: vec![-1; BATCH].into_boxed_slice(),
            fixed: vec![NOT_FIXED; BATCH].into_boxed_slice(),
            count: 0,
            failed: 0,
            syscalls: 0,
            send_to_op: false,
        }
    }

    /// Whether the batch is full (flush before pushing more).
    pub fn is_full(&self) -> bool {
        self.count == BATCH
    }

    /// Queued datagrams.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Queues `data` to be sent from socket `fd` to `to`. Returns false (and queues
    /// nothing) when the batch is full or the datagram too large.
    pub fn push(&mut self, fd: RawFd, to: SocketAddr, data: &[u8]) -> bool {
        self.push_fixed(fd, NOT_FIXED, to, data)
    }

    /// As [`Self::push`], for a socket also registered with the io_uring the batch is
    /// flushed through, at index `fixed`.
    pub(crate) fn push_fixed(
        &mut self,
        fd: RawFd,
        fixed: u32,
        to: SocketAddr,
        data: &[u8],
    ) -> bool {
        if self.count == BATCH || data.len() > MAX_DATAGRAM {
            return false;
        }
        let i = self.count;
        self.fixed[i] = fixed;
        self.bufs[i * MAX_DATAGRAM..i * MAX_DATAGRAM + data.len()].copy_from_slice(data);
        self.iovecs[i].iov_len = data.len();
        self.hdrs[i].msg_hdr.msg_namelen = from_socket_addr(to, &mut self.addrs[i]);
        self.fds[i] = fd;
        self.count += 1;
        true
    }

    /// Sends everything queued through `ring`: one `io_uring_enter` for all datagrams,
    /// whatever their sockets.
    pub(crate) fn flush_uring(&mut self, ring: &mut io_uring::IoUring) -> io::Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        for i in 0..self.count {
            let sqe = if self.send_to_op {
                let hdr = &self.hdrs[i].msg_hdr;
                let start = i * MAX_DATAGRAM;
                let buf = self.bufs[start..].as_ptr();
                let len = self.iovecs[i].iov_len as u32;
                let to = hdr.msg_name.cast::<libc::sockaddr>().cast_const();
                if self.fixed[i] == NOT_FIXED {
                    io_uring::opcode::Send::new(io_uring::types::Fd(self.fds[i]), buf, len)
                        .flags(libc::MSG_DONTWAIT)
                        .dest_addr(to)
                        .dest_addr_len(hdr.msg_namelen)
                        .build()
                } else {
                    io_uring::opcode::Send::new(io_uring::types::Fixed(self.fixed[i]), buf, len)
                        .flags(libc::MSG_DONTWAIT)
                        .dest_addr(to)
                        .dest_addr_len(hdr.msg_namelen)
                        .build()
                }
            } else if self.fixed[i] == NOT_FIXED {
                io_uring::opcode::SendMsg::new(
                    io_uring::types::Fd(self.fds[i]),
                    &self.hdrs[i].msg_hdr,
                )
                .flags(libc::MSG_DONTWAIT as u32)
                .build()
            } else {
                io_uring::opcode::SendMsg::new(
                    io_uring::types::Fixed(self.fixed[i]),
                    &self.hdrs[i].msg_hdr,
                )
                .flags(libc::MSG_DONTWAIT as u32)
                .build()
            }
            .user_data(i as u64);
            // SAFETY: the msghdr and everything it points to (address, iovec, buffer)
            // belong to this batch and are not touched until the completions below are
            // reaped; the ring has room for BATCH entries (checked at creation).
            unsafe { ring.submission().push(&sqe) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        let n = self.count;
        self.count = 0;
        let failed = submit_and_reap(ring, n, |_, res| {
            if res < 0 {
                self.failed += 1;
            }
        });
        self.syscalls += 1;
        failed
    }

    /// Sends everything queued with one `io_uring_enter`, whatever the sockets: the way
    /// to send one frame for each of many streams (each on its own socket) per tick.
    pub fn flush_via(&mut self, ring: &mut Uring) -> io::Result<()> {
        self.flush_uring(&mut ring.0)
    }

    /// Sends everything queued: one `sendmmsg` per run of datagrams on the same socket.
    /// Datagrams the kernel refuses are counted in `failed` and dropped (UDP).
    pub fn flush(&mut self) {
        let mut start = 0;
        while start < self.count {
            let fd = self.fds[start];
            let mut end = start + 1;
            while end < self.count && self.fds[end] == fd {
                end += 1;
            }
            while start < end {
                // SAFETY: hdrs[start..end] are initialised mmsghdr pointing into this
                // batch's own buffers, set by push; the kernel only reads them.
                let n = unsafe {
                    libc::sendmmsg(
                        fd,
                        self.hdrs[start..].as_mut_ptr(),
                        (end - start) as libc::c_uint,
                        libc::MSG_DONTWAIT,
                    )
                };
                self.syscalls += 1;
                if n <= 0 {
                    // The first datagram failed; skip it and try the rest.
                    self.failed += 1;
                    start += 1;
                } else {
                    start += n as usize;
                }
            }
        }
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn batch_round_trip_over_loopback() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let mut send = SendBatch::new();
        for i in 0..10u8 {
            assert!(send.push(a.as_raw_fd(), b.local_addr().unwrap(), &[i; 20]));
        }
        assert!(send.push(c.as_raw_fd(), b.local_addr().unwrap(), b"from c"));
        send.flush();
        assert_eq!(send.syscalls, 2);
        assert_eq!(send.failed, 0);
        let mut recv = RecvBatch::new();
        let mut got = Vec::new();
        while got.len() < 11 {
            let n = recv.recv(b.as_raw_fd()).unwrap();
            for i in 0..n {
                let (data, src) = recv.get_mut(i).unwrap();
                got.push((data.to_vec(), src));
            }
        }
        assert_eq!(got[0], (vec![0; 20], a.local_addr().unwrap()));
        assert_eq!(got[9].0, vec![9; 20]);
        assert_eq!(got[10], (b"from c".to_vec(), c.local_addr().unwrap()));
        assert_eq!(recv.recv(b.as_raw_fd()).unwrap(), 0);
    }

    #[test]
    fn ipv6_addresses_convert() {
        let addr: SocketAddr = "[2001:db8::5]:4000".parse().unwrap();
        let mut s = zeroed_storage();
        from_socket_addr(addr, &mut s);
        assert_eq!(to_socket_addr(&s), Some(addr));
        let addr: SocketAddr = "192.0.2.9:1".parse().unwrap();
        from_socket_addr(addr, &mut s);
        assert_eq!(to_socket_addr(&s), Some(addr));
    }
}
