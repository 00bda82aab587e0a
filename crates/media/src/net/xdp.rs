//! An AF_XDP fast path for relayed RTP: IPv4 UDP datagrams to the relay's ports are taken
//! off the interface before the kernel's UDP stack sees them, and the relayed copy leaves
//! from the same memory without a socket send.
//!
//! How it fits together:
//! - An XDP program, attached in generic (SKB) mode so it works on any interface including
//!   `lo`, redirects IPv4 UDP datagrams without IP options and not fragmented whose
//!   destination port is marked in an ARRAY map of 65,536 entries to the AF_XDP socket bound
//!   at the receiving queue (`bpf_redirect_map(xskmap, rx_queue_index, XDP_PASS)`: with no
//!   socket there the frame goes on to the stack). Everything else passes untouched. It is
//!   attached through a BPF link, so it is detached when the link's descriptor closes, also
//!   when the process dies.
//! - The AF_XDP socket runs in copy mode (`XDP_COPY`) on queue 0 with a UMEM of
//!   2,048-byte frames and the four rings (fill, completion, RX, TX).
//! - A received frame is parsed (Ethernet, IPv4, UDP, each length checked); the caller
//!   rewrites the payload in place and the reply headers are written into the same frame,
//!   which then goes on the TX ring: forwarding copies nothing in user space. Frames come
//!   back on the completion ring and return to the fill ring.
//!
//! The program is hand-assembled eBPF bytecode loaded with bpf(2) through `libc`: aya
//! needs a nightly `bpf-linker` toolchain to compile programs and libbpf-rs needs clang and
//! a C object, for a program of about 30 instructions that the kernel's verifier checks on
//! every load anyway. The rings are written here too rather than taken from `xdpilone`:
//! that crate leaves BPF and the XSKMAP out, its UMEM and ring constructors are `unsafe`
//! over memory the caller maps anyway, so it would not shrink the `unsafe` surface of this
//! module, and the four rings are a few dozen lines following the kernel's `xsk.h`.
//!
//! This module holds `unsafe` code: system calls with kernel structures, and memory shared
//! with the kernel (the UMEM and the rings), whose indices are read and written with
//! Acquire/Release atomics as `xsk.h` does.
//!
//! Only queue 0 is served: on a NIC with several queues, a marked port's datagrams that
//! arrive on another queue find no socket in the map and go on to the port's UDP socket,
//! as do its IPv6 datagrams and those on other interfaces. So a caller keeps the port's
//! socket bound (it also reserves the port) and keeps reading it.
//!
//! On `lo`, frames sent through AF_XDP carry no route, so the kernel's receive path
//! routes them as if they came from outside and drops 127/8 and local source addresses
//! as martians; attaching to a loopback interface turns on its `route_localnet` and
//! `accept_local` settings (that interface only, where every frame comes from this host)
//! while the path lives.
//!
//! On `lo` every MAC address is zero and must stay zero (the kernel drops a frame whose
//! destination MAC is not the interface's as `PACKET_OTHERHOST`). On a real NIC the
//! destination MAC of a reply is the source MAC of the peer's own frames (its next hop),
//! which is why a caller only sends this way to peers it has received a frame from.

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// The size of one UMEM frame in bytes.
pub const FRAME_SIZE: usize = 2048;
/// Ethernet (14) + IPv4 without options (20) + UDP (8): where the payload starts.
const HEADERS: usize = 42;
const ETH_P_IP: u16 = 0x0800;
const IPPROTO_UDP: u8 = 17;

// ---------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------

/// Why a received frame was not a datagram this path handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame is shorter than its headers, or its lengths disagree.
    #[error("frame truncated or with inconsistent lengths")]
    Truncated,
    /// Not an IPv4 UDP datagram without options and not fragmented.
    #[error("not an unfragmented IPv4 UDP datagram without options")]
    NotUdp4,
}

/// A received IPv4 UDP datagram, in its UMEM frame.
#[derive(Debug)]
pub struct RxFrame<'a> {
    /// The frame from its first byte to the end of its UMEM chunk (room to grow).
    buf: &'a mut [u8],
    payload_len: usize,
    /// The sender's address and port.
    pub src: SocketAddrV4,
    /// The local address the datagram was sent to.
    pub dst_ip: Ipv4Addr,
    /// The local port the datagram was sent to.
    pub dst_port: u16,
    /// The source MAC address: the next hop towards the sender (all zero on `lo`).
    pub src_mac: [u8; 6],
    /// The destination MAC address: this interface's (all zero on `lo`).
    pub dst_mac: [u8; 6],
}

impl<'a> RxFrame<'a> {
    /// Parses an Ethernet frame of `len` bytes at the start of `buf` (`buf` may be longer:
    /// the rest is room a forwarded reply may grow into). Checks every length.
    pub fn parse(buf: &'a mut [u8], len: usize) -> Result<Self, FrameError> {
        let frame = buf.get(..len).ok_or(FrameError::Truncated)?;
        if frame.len() < 14 {
            return Err(FrameError::Truncated);
        }
        if u16::from_be_bytes([frame[12], frame[13]]) != ETH_P_IP {
            return Err(FrameError::NotUdp4);
        }
        if frame.len() < HEADERS {
            return Err(FrameError::Truncated);
        }
        let ip = &frame[14..];
        if ip[0] != 0x45 || ip[9] != IPPROTO_UDP {
            return Err(FrameError::NotUdp4);
        }
        // More-fragments flag or a fragment offset.
        if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
            return Err(FrameError::NotUdp4);
        }
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        // A frame may carry padding after the datagram (Ethernet's 60-byte minimum).
        if total < 28 || total > ip.len() {
            return Err(FrameError::Truncated);
        }
        let udp = &ip[20..total];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        if udp_len < 8 || udp_len > udp.len() {
            return Err(FrameError::Truncated);
        }
        let mac = |b: &[u8]| -> [u8; 6] { [b[0], b[1], b[2], b[3], b[4], b[5]] };
        let src = SocketAddrV4::new(
            Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
            u16::from_be_bytes([udp[0], udp[1]]),
        );
        let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let dst_port = u16::from_be_bytes([udp[2], udp[3]]);
        let (dst_mac, src_mac) = (mac(&frame[0..6]), mac(&frame[6..12]));
        Ok(Self {
            buf,
            payload_len: udp_len - 8,
            src,
            dst_ip,
            dst_port,
            src_mac,
            dst_mac,
        })
    }

    /// The UDP payload.
    pub fn payload(&self) -> &[u8] {
        &self.buf[HEADERS..HEADERS + self.payload_len]
    }

    /// The UDP payload, to rewrite in place before forwarding.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf[HEADERS..HEADERS + self.payload_len]
    }

    /// The whole room for a payload in this frame: the received payload followed by the
    /// rest of the UMEM chunk, for a forwarded payload longer than the received one.
    pub fn room_mut(&mut self) -> &mut [u8] {
        &mut self.buf[HEADERS..]
    }

    /// The largest payload a forwarded reply can carry in this frame.
    pub fn capacity(&self) -> usize {
        self.buf.len() - HEADERS
    }
}

/// What to do with a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Give the frame back; nothing is sent.
    Drop,
    /// Send the frame's first `len` payload bytes (as rewritten in place) from `from` to
    /// `to`, whose next hop has the MAC address `to_mac`.
    Forward {
        /// The local address and port the reply comes from.
        from: SocketAddrV4,
        /// Where the reply goes.
        to: SocketAddrV4,
        /// The next hop's MAC address (the source MAC of `to`'s own frames; zero on `lo`).
        to_mac: [u8; 6],
        /// The payload length: at most [`RxFrame::capacity`] (a longer one drops the
        /// frame, counted in `dropped`).
        len: usize,
    },
}

fn checksum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn checksum_fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes Ethernet, IPv4 and UDP headers for a `len`-byte payload already at
/// `frame[HEADERS..]`, with both checksums. `frame` holds at least `HEADERS + len` bytes.
fn write_headers(
    frame: &mut [u8],
    src_mac: [u8; 6],
    to_mac: [u8; 6],
    from: SocketAddrV4,
    to: SocketAddrV4,
    tos: u8,
    len: usize,
) -> usize {
    let udp_len = (8 + len) as u16;
    let total = 20 + udp_len;
    frame[0..6].copy_from_slice(&to_mac);
    frame[6..12].copy_from_slice(&src_mac);
    frame[12..14].copy_from_slice(&ETH_P_IP.to_be_bytes());
    let ip = &mut frame[14..34];
    ip[0] = 0x45;
    ip[1] = tos;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&[0, 0]); // identification: unused with DF
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // don't fragment
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    ip[10..12].copy_from_slice(&[0, 0]);
    ip[12..16].copy_from_slice(&from.ip().octets());
    ip[16..20].copy_from_slice(&to.ip().octets());
    let ip_sum = checksum_fold(checksum_add(0, ip));
    ip[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    let udp = &mut frame[34..34 + usize::from(udp_len)];
    udp[0..2].copy_from_slice(&from.port().to_be_bytes());
    udp[2..4].copy_from_slice(&to.port().to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    udp[6..8].copy_from_slice(&[0, 0]);
    // Pseudo header: addresses, protocol, UDP length.
    let mut sum = checksum_add(0, &from.ip().octets());
    sum = checksum_add(sum, &to.ip().octets());
    sum += u32::from(IPPROTO_UDP) + u32::from(udp_len);
    sum = checksum_add(sum, udp);
    let udp_sum = match checksum_fold(sum) {
        0 => 0xffff, // zero means "no checksum" in IPv4
        s => s,
    };
    udp[6..8].copy_from_slice(&udp_sum.to_be_bytes());
    HEADERS + len
}

// ---------------------------------------------------------------------------------------
// bpf(2)
// ---------------------------------------------------------------------------------------

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_MAP_DELETE_ELEM: libc::c_int = 3;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_LINK_CREATE: libc::c_int = 28;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_PASS: i32 = 2;

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// bpf(2) with `attr`; a new descriptor for commands that return one.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a `repr(C)` prefix of `union bpf_attr` for `cmd`, valid for its
    // size; the kernel zero-extends the rest.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut T).cast::<libc::c_void>(),
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

fn map_create(map_type: u32, key: u32, value: u32, entries: u32) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type,
        key_size: key,
        value_size: value,
        max_entries: entries,
        map_flags: 0,
    };
    bpf(BPF_MAP_CREATE, &mut attr).map(owned)
}

fn map_update(map: &OwnedFd, key: u32, value: u32) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: std::ptr::from_ref(&key) as u64,
        value: std::ptr::from_ref(&value) as u64,
        ..MapElemAttr::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

fn map_delete(map: &OwnedFd, key: u32) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: std::ptr::from_ref(&key) as u64,
        ..MapElemAttr::default()
    };
    bpf(BPF_MAP_DELETE_ELEM, &mut attr).map(drop)
}

/// One eBPF instruction, as `struct bpf_insn`.
#[derive(Clone, Copy)]
#[repr(C)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

// Opcodes used by the program.
const MOV64_REG: u8 = 0xbf; // dst = src
const MOV64_IMM: u8 = 0xb7; // dst = imm
const ADD64_IMM: u8 = 0x07; // dst += imm
const AND64_IMM: u8 = 0x57; // dst &= imm
const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const LDX_H: u8 = 0x69; // dst = *(u16 *)(src + off)
const LDX_B: u8 = 0x71; // dst = *(u8 *)(src + off)
const STX_W: u8 = 0x63; // *(u32 *)(dst + off) = src
const LD_IMM64: u8 = 0x18; // dst = imm64 (two slots); src 1: imm is a map fd
const JGT_REG: u8 = 0x2d; // if dst > src goto +off
const JNE_IMM: u8 = 0x55; // if dst != imm goto +off
const JEQ_IMM: u8 = 0x15; // if dst == imm goto +off
const TO_BE16: u8 = 0xdc; // dst = htobe(dst), imm = 16
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const FN_MAP_LOOKUP_ELEM: i32 = 1;
const FN_REDIRECT_MAP: i32 = 51;

/// What a 16-bit load of `v` in network byte order gives on this host.
const fn wire16(v: u16) -> i32 {
    u16::from_ne_bytes(v.to_be_bytes()) as i32
}

/// The XDP program: redirect marked IPv4 UDP ports to the socket of the receiving queue.
fn program(ports: RawFd, xsks: RawFd) -> Vec<Insn> {
    const PASS: i16 = i16::MAX; // placeholder for a jump to the `pass` label
    let mut p = vec![
        insn(MOV64_REG, 6, 1, 0, 0),                 // r6 = ctx
        insn(LDX_W, 2, 1, 0, 0),                     // r2 = ctx->data
        insn(LDX_W, 3, 1, 4, 0),                     // r3 = ctx->data_end
        insn(MOV64_REG, 4, 2, 0, 0),                 // r4 = data
        insn(ADD64_IMM, 4, 0, 0, HEADERS as i32),    // r4 += 42
        insn(JGT_REG, 4, 3, PASS, 0),                // too short: pass
        insn(LDX_H, 5, 2, 12, 0),                    // ethertype (network order)
        insn(JNE_IMM, 5, 0, PASS, wire16(ETH_P_IP)), // not IPv4: pass
        insn(LDX_B, 5, 2, 14, 0),                    // version, header length
        insn(JNE_IMM, 5, 0, PASS, 0x45),             // options or not IPv4: pass
        insn(LDX_B, 5, 2, 23, 0),                    // protocol
        insn(JNE_IMM, 5, 0, PASS, i32::from(IPPROTO_UDP)),
        insn(LDX_H, 5, 2, 20, 0),                 // flags, fragment offset
        insn(AND64_IMM, 5, 0, 0, wire16(0x3fff)), // more fragments, offset
        insn(JNE_IMM, 5, 0, PASS, 0),             // a fragment: pass
        insn(LDX_H, 5, 2, 36, 0),                 // UDP destination port
        insn(TO_BE16, 5, 0, 0, 16),               // to host order
        insn(STX_W, 10, 5, -4, 0),                // key on the stack
        insn(MOV64_REG, 2, 10, 0, 0),             // r2 = &key
        insn(ADD64_IMM, 2, 0, 0, -4),
        insn(LD_IMM64, 1, BPF_PSEUDO_MAP_FD, 0, ports), // r1 = ports map
        insn(0, 0, 0, 0, 0),
        insn(CALL, 0, 0, 0, FN_MAP_LOOKUP_ELEM),
        insn(JEQ_IMM, 0, 0, PASS, 0), // no entry: pass
        insn(LDX_W, 1, 0, 0, 0),
        insn(JEQ_IMM, 1, 0, PASS, 0), // port not marked: pass
        insn(LDX_W, 2, 6, 16, 0),     // r2 = ctx->rx_queue_index
        insn(LD_IMM64, 1, BPF_PSEUDO_MAP_FD, 0, xsks), // r1 = socket map
        insn(0, 0, 0, 0, 0),
        insn(MOV64_IMM, 3, 0, 0, XDP_PASS), // no socket there: pass
        insn(CALL, 0, 0, 0, FN_REDIRECT_MAP),
        insn(EXIT, 0, 0, 0, 0),
    ];
    let pass = p.len();
    p.push(insn(MOV64_IMM, 0, 0, 0, XDP_PASS));
    p.push(insn(EXIT, 0, 0, 0, 0));
    for (i, ins) in p.iter_mut().enumerate() {
        if ins.off == PASS && ins.code & 0x07 == 0x05 {
            ins.off = (pass - i - 1) as i16;
        }
    }
    p
}

fn load_program(insns: &[Insn]) -> io::Result<OwnedFd> {
    let license = c"GPL";
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: *b"switchyard_rtp\0\0",
        ..ProgLoadAttr::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(e)
            if e.raw_os_error() == Some(libc::EACCES) || e.raw_os_error() == Some(libc::EINVAL) =>
        {
            // Load again with the verifier's log, to say why.
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let text = CStr::from_bytes_until_nul(&log)
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Err(io::Error::new(
                e.kind(),
                format!("the XDP program was refused ({e}): {text}"),
            ))
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------
// Shared memory and rings
// ---------------------------------------------------------------------------------------

/// A memory mapping, unmapped on drop.
struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mmap {
    fn new(len: usize, fd: RawFd, offset: u64) -> io::Result<Self> {
        let (flags, prot) = if fd < 0 {
            (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        } else {
            (
                libc::MAP_SHARED | libc::MAP_POPULATE,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        // SAFETY: a fresh mapping the kernel places; checked for failure below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                flags,
                fd,
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Self { ptr, len })
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `Mmap::new` with this length and is unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// One of the four rings: a producer and a consumer index and `size` entries of `T`,
/// shared with the kernel.
struct Ring<T> {
    _map: Mmap,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    descs: NonNull<T>,
    mask: u32,
    size: u32,
    /// Our copy of the side the kernel moves (consumer for a producer ring and back).
    cached_prod: u32,
    cached_cons: u32,
}

impl<T: Copy> Ring<T> {
    fn map(fd: RawFd, off: &libc::xdp_ring_offset, size: u32, pgoff: u64) -> io::Result<Self> {
        let len = off.desc as usize + size as usize * std::mem::size_of::<T>();
        let map = Mmap::new(len, fd, pgoff)?;
        let base = map.ptr.as_ptr();
        // SAFETY: the offsets come from XDP_MMAP_OFFSETS for this mapping and lie inside it.
        let at = |o: u64| unsafe { NonNull::new_unchecked(base.add(o as usize)) };
        let producer = at(off.producer).cast::<AtomicU32>();
        let consumer = at(off.consumer).cast::<AtomicU32>();
        let descs = at(off.desc).cast::<T>();
        // SAFETY: as above; the indices are u32 the kernel updates atomically.
        let (p, c) = unsafe {
            (
                producer.as_ref().load(Ordering::Relaxed),
                consumer.as_ref().load(Ordering::Relaxed),
            )
        };
        Ok(Self {
            _map: map,
            producer,
            consumer,
            descs,
            mask: size - 1,
            size,
            cached_prod: p,
            cached_cons: c,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into `_map`, which lives as long as `self`.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as in `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn write(&mut self, idx: u32, value: T) {
        // SAFETY: `idx & mask` < size: inside the descriptor array.
        unsafe {
            self.descs
                .as_ptr()
                .add((idx & self.mask) as usize)
                .write(value)
        }
    }

    fn read(&self, idx: u32) -> T {
        // SAFETY: as in `write`; the kernel published this entry before the producer index
        // we loaded with Acquire.
        unsafe { self.descs.as_ptr().add((idx & self.mask) as usize).read() }
    }

    // Producer side (fill, TX).

    /// Free entries, reloading the kernel's consumer index when needed.
    fn free(&mut self, want: u32) -> u32 {
        let free = self.size - self.cached_prod.wrapping_sub(self.cached_cons);
        if free >= want {
            return free;
        }
        self.cached_cons = self.consumer().load(Ordering::Acquire);
        self.size - self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Appends one entry (after checking `free`); published by `submit`.
    fn push(&mut self, value: T) {
        self.write(self.cached_prod, value);
        self.cached_prod = self.cached_prod.wrapping_add(1);
    }

    fn submit(&self) {
        self.producer().store(self.cached_prod, Ordering::Release);
    }

    // Consumer side (RX, completion).

    /// Entries ready to read, from index `cached_cons`.
    fn available(&mut self) -> u32 {
        self.cached_prod = self.producer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Gives back `n` read entries.
    fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.consumer().store(self.cached_cons, Ordering::Release);
    }
}

fn setsockopt<T>(fd: RawFd, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is valid for its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            name,
            std::ptr::from_ref(value).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn getsockopt<T>(fd: RawFd, name: libc::c_int, value: &mut T) -> io::Result<()> {
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is valid for writes of its size, which `len` says.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            name,
            std::ptr::from_mut(value).cast(),
            &mut len,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Interfaces
// ---------------------------------------------------------------------------------------

/// The name of the interface that owns `addr` (an address in 127/8 that no interface
/// lists belongs to the loopback interface), and whether it is a loopback interface.
fn interface_of(addr: Ipv4Addr) -> io::Result<(String, bool)> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below.
    if unsafe { libc::getifaddrs(&mut head) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let (mut exact, mut loopback) = (None, None);
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: a NUL-terminated name in the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        if ifa.ifa_flags & libc::IFF_LOOPBACK as libc::c_uint != 0 {
            loopback.get_or_insert_with(|| (name.clone(), true));
        }
        // SAFETY: ifa_addr is non-null; its family says which sockaddr it is.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) == libc::AF_INET {
            // SAFETY: an AF_INET address is a sockaddr_in.
            let sin = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
            if Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)) == addr {
                let is_loopback = ifa.ifa_flags & libc::IFF_LOOPBACK as libc::c_uint != 0;
                exact = Some((name, is_loopback));
            }
        }
    }
    // SAFETY: the list from getifaddrs above, freed once.
    unsafe { libc::freeifaddrs(head) };
    exact
        .or(if addr.is_loopback() { loopback } else { None })
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no interface has {addr}")))
}

/// Lets the kernel deliver frames sent on loopback interface `ifname` through AF_XDP.
///
/// A frame sent from the stack on `lo` carries its route with it; a frame sent through
/// AF_XDP has none, so the receive path routes it as if it came from outside: a 127/8
/// address is martian (`IP_LOCALNET`) unless `route_localnet` is on, and a local source
/// address is martian (`IP_LOCAL_SOURCE`) unless `accept_local` is on. Both are turned on
/// for this interface only, where every frame comes from this host anyway. Returns the
/// settings it changed, which are turned off again when the guard is dropped.
fn allow_local_frames(ifname: &str) -> io::Result<Settings> {
    let mut changed = Settings(Vec::new());
    for knob in ["route_localnet", "accept_local"] {
        let path = format!("/proc/sys/net/ipv4/conf/{ifname}/{knob}");
        if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == "1") {
            continue;
        }
        std::fs::write(&path, "1").map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "setting {path} to 1, which frames sent through AF_XDP on {ifname} need: {e}"
                ),
            )
        })?;
        tracing::info!(%ifname, knob, "turned on for frames sent through AF_XDP");
        changed.0.push(path);
    }
    Ok(changed)
}

/// Boolean kernel settings (paths under /proc/sys) turned on by this process, turned off
/// again on drop, also when `attach` fails after turning them on.
#[derive(Debug)]
struct Settings(Vec<String>);

impl Drop for Settings {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::write(path, "0");
        }
    }
}

fn if_index(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(io::Error::other)?;
    // SAFETY: a NUL-terminated name.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
}

fn mac_of(name: &str) -> [u8; 6] {
    let text =
        std::fs::read_to_string(format!("/sys/class/net/{name}/address")).unwrap_or_default();
    let mut mac = [0u8; 6];
    for (b, part) in mac.iter_mut().zip(text.trim().split(':')) {
        *b = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    mac
}

// ---------------------------------------------------------------------------------------
// The path
// ---------------------------------------------------------------------------------------

/// Counters of an [`XdpPath`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpStats {
    /// Frames taken off the RX ring.
    pub received: u64,
    /// Received frames that were not well-formed IPv4 UDP (dropped).
    pub bad: u64,
    /// Received frames the caller dropped.
    pub dropped: u64,
    /// Received frames forwarded in place.
    pub forwarded: u64,
    /// Frames built by [`XdpPath::send`] / [`XdpPath::send_frame`].
    pub sent: u64,
    /// Forwards and sends refused: no free frame or the TX ring full.
    pub tx_full: u64,
    /// Transmitted frames the kernel handed back.
    pub completed: u64,
    /// The kernel's count of frames it dropped for this socket (every cause).
    pub kernel_rx_dropped: u64,
    /// The kernel's count of frames dropped because the RX ring was full.
    pub kernel_rx_ring_full: u64,
    /// The kernel's count of frames that found the fill ring empty.
    pub kernel_fill_empty: u64,
    /// The kernel's count of invalid TX descriptors.
    pub kernel_tx_invalid: u64,
}

/// An AF_XDP socket on queue 0 of one interface with the XDP program that feeds it.
///
/// A relay loop over it (needs root; falls back to sockets when `attach` fails):
///
/// ```no_run
/// use std::net::{SocketAddrV4, UdpSocket};
/// use switchyard_media::net::{Verdict, XdpPath};
///
/// let mut path = XdpPath::attach("127.0.0.1".parse().unwrap(), 4096)?;
/// // The relay's two ports stay bound: that reserves them, and IPv6 still uses them.
/// let (a, b) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
/// let port_a = a.local_addr()?.port();
/// let from_b = SocketAddrV4::new("127.0.0.1".parse().unwrap(), b.local_addr()?.port());
/// let agent: SocketAddrV4 = "127.0.0.1:41000".parse().unwrap();
/// path.steer(port_a, true)?;
/// loop {
///     // Wait for `path.fd()` to be readable in the loop's poll, then:
///     path.receive(|frame| {
///         if frame.dst_port != port_a {
///             return Verdict::Drop;
///         }
///         let len = frame.payload().len();
///         frame.payload_mut()[1] = 0; // rewrite the RTP header in place
///         // The agent's own frames gave its next hop's MAC (all zero on lo).
///         Verdict::Forward { from: from_b, to: agent, to_mac: [0; 6], len }
///     });
///     path.flush()?;
/// #   break;
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct XdpPath {
    // Field order is drop order: the link first (detaches the program), the socket
    // before its rings and UMEM.
    _link: OwnedFd,
    _prog: OwnedFd,
    xsk: OwnedFd,
    ports: OwnedFd,
    xsks: OwnedFd,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    fill: Ring<u64>,
    comp: Ring<u64>,
    umem: Mmap,
    /// Frames owned by user space, neither on the fill ring nor in flight.
    free: Vec<u64>,
    /// How many frames the fill ring is kept topped up to.
    fill_target: u32,
    /// TX descriptors pushed since the last kick.
    unkicked: u32,
    mac: [u8; 6],
    ifname: String,
    /// Interface settings `attach` turned on, turned off again on drop.
    _settings: Settings,
    stats: XdpStats,
}

// SAFETY: the raw pointers point into mappings owned by the value; nothing is shared with
// another thread of this process.
unsafe impl Send for XdpPath {}

impl Drop for XdpPath {
    fn drop(&mut self) {
        // The socket map holds a reference to the socket: drop it now rather than when the
        // kernel frees the map, so the queue is free again as soon as possible.
        let _ = map_delete(&self.xsks, 0);
    }
}

impl std::fmt::Debug for XdpPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpPath")
            .field("interface", &self.ifname)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl XdpPath {
    /// Attaches to the interface that owns `addr` (an IPv4 address; 127/8 means the
    /// loopback interface), queue 0, with a UMEM of `frames` frames of [`FRAME_SIZE`]
    /// bytes (a power of two, at least 64). Fails, and the caller keeps to sockets, when
    /// the interface already has an XDP program (`EBUSY`), BPF or AF_XDP is not permitted,
    /// or `addr` is IPv6.
    pub fn attach(addr: IpAddr, frames: u32) -> io::Result<Self> {
        let IpAddr::V4(addr) = addr else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the XDP path is IPv4 only",
            ));
        };
        if !frames.is_power_of_two() || frames < 64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frames must be a power of two, at least 64",
            ));
        }
        let (ifname, loopback) = interface_of(addr)?;
        let ifindex = if_index(&ifname)?;

        let ports = map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 65536)?;
        let xsks = map_create(BPF_MAP_TYPE_XSKMAP, 4, 4, 1)?;
        let prog = load_program(&program(ports.as_raw_fd(), xsks.as_raw_fd()))?;

        // Attach first: a second path on the interface fails here at once. Until the
        // socket is in the map, the program passes everything on.
        let mut link = LinkCreateAttr {
            prog_fd: prog.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags: XDP_FLAGS_SKB_MODE,
        };
        let link = bpf(BPF_LINK_CREATE, &mut link).map(owned).map_err(|e| {
            if e.raw_os_error() == Some(libc::EBUSY) {
                io::Error::new(
                    io::ErrorKind::ResourceBusy,
                    format!("{ifname} already has an XDP program"),
                )
            } else {
                e
            }
        })?;

        let sysctls = if loopback {
            allow_local_frames(&ifname)?
        } else {
            Settings(Vec::new())
        };

        // SAFETY: plain socket(2).
        let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let xsk = owned(fd.into());
        let raw = xsk.as_raw_fd();

        let umem = Mmap::new(frames as usize * FRAME_SIZE, -1, 0)?;
        let reg = libc::xdp_umem_reg {
            addr: umem.ptr.as_ptr() as u64,
            len: umem.len as u64,
            chunk_size: FRAME_SIZE as u32,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(raw, libc::XDP_UMEM_REG, &reg)?;
        // Every ring can hold every frame, so none of them ever refuses a frame we own.
        for opt in [
            libc::XDP_UMEM_FILL_RING,
            libc::XDP_UMEM_COMPLETION_RING,
            libc::XDP_RX_RING,
            libc::XDP_TX_RING,
        ] {
            setsockopt(raw, opt, &frames)?;
        }
        // SAFETY: an all-zero xdp_mmap_offsets is a valid value, overwritten below.
        let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        getsockopt(raw, libc::XDP_MMAP_OFFSETS, &mut off)?;
        let rx = Ring::map(raw, &off.rx, frames, libc::XDP_PGOFF_RX_RING as u64)?;
        let tx = Ring::map(raw, &off.tx, frames, libc::XDP_PGOFF_TX_RING as u64)?;
        let fill = Ring::map(raw, &off.fr, frames, libc::XDP_UMEM_PGOFF_FILL_RING)?;
        let comp = Ring::map(raw, &off.cr, frames, libc::XDP_UMEM_PGOFF_COMPLETION_RING)?;

        let sxdp = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_COPY,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: 0,
            sxdp_shared_umem_fd: 0,
        };
        // The kernel releases the queue of a socket closed just before (ours from a
        // previous path, say) in a work item, after close returns: retry a little while.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            // SAFETY: a sockaddr_xdp of its own size.
            let r = unsafe {
                libc::bind(
                    raw,
                    std::ptr::from_ref(&sxdp).cast(),
                    std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                )
            };
            if r == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EBUSY) || std::time::Instant::now() > deadline {
                return Err(io::Error::new(
                    e.kind(),
                    format!("binding an AF_XDP socket to {ifname} queue 0: {e}"),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        map_update(&xsks, 0, raw as u32)?;

        let mut path = Self {
            _link: link,
            _prog: prog,
            xsk,
            ports,
            xsks,
            rx,
            tx,
            fill,
            comp,
            umem,
            free: (0..u64::from(frames))
                .rev()
                .map(|i| i * FRAME_SIZE as u64)
                .collect(),
            fill_target: frames / 2,
            unkicked: 0,
            mac: mac_of(&ifname),
            ifname,
            _settings: sysctls,
            stats: XdpStats::default(),
        };
        path.refill();
        Ok(path)
    }

    /// The interface the path is attached to.
    pub fn interface(&self) -> &str {
        &self.ifname
    }

    /// Marks (`on`) or unmarks a local UDP port: its IPv4 datagrams on this interface
    /// come to this path instead of the port's socket.
    pub fn steer(&mut self, port: u16, on: bool) -> io::Result<()> {
        map_update(&self.ports, u32::from(port), u32::from(on))
    }

    /// Tops the fill ring up from the free frames.
    fn refill(&mut self) {
        // Frames the kernel has not taken yet.
        self.fill.cached_cons = self.fill.consumer().load(Ordering::Acquire);
        let queued = self.fill.cached_prod.wrapping_sub(self.fill.cached_cons);
        let want = self.fill_target.saturating_sub(queued);
        if want == 0 || self.free.is_empty() {
            return;
        }
        let n = self.fill.free(want).min(want).min(self.free.len() as u32);
        for _ in 0..n {
            let addr = self.free.pop().expect("counted above");
            self.fill.push(addr);
        }
        self.fill.submit();
    }

    /// Takes transmitted frames back from the completion ring.
    fn reap(&mut self) {
        let n = self.comp.available();
        for i in 0..n {
            let addr = self.comp.read(self.comp.cached_cons.wrapping_add(i));
            self.free.push(addr & !(FRAME_SIZE as u64 - 1));
        }
        if n > 0 {
            self.comp.release(n);
            self.stats.completed += u64::from(n);
        }
    }

    /// The bytes of the chunk holding UMEM address `addr`, from `addr` to the chunk's end.
    fn chunk_mut(&mut self, addr: u64) -> Option<&mut [u8]> {
        let start = usize::try_from(addr).ok()?;
        let end = (start / FRAME_SIZE + 1) * FRAME_SIZE;
        if end > self.umem.len {
            return None;
        }
        // SAFETY: `start..end` lies inside the UMEM; the kernel handed this chunk to user
        // space (RX ring) or it is a free frame, so nothing else writes it meanwhile.
        Some(unsafe {
            std::slice::from_raw_parts_mut(self.umem.ptr.as_ptr().add(start), end - start)
        })
    }

    /// Hands every frame received since the last call to `f` and forwards or drops it as
    /// `f` says; also takes back transmitted frames. Forwarded frames are on the TX ring:
    /// call [`flush`](Self::flush) to send them. Returns how many frames were received.
    pub fn receive(&mut self, mut f: impl FnMut(&mut RxFrame<'_>) -> Verdict) -> usize {
        self.reap();
        let n = self.rx.available();
        let mac = self.mac;
        for i in 0..n {
            let desc = self.rx.read(self.rx.cached_cons.wrapping_add(i));
            let base = desc.addr & !(FRAME_SIZE as u64 - 1);
            let Some(chunk) = self.chunk_mut(desc.addr) else {
                self.stats.bad += 1;
                continue; // not a UMEM address: nothing to give back
            };
            // Some(len): forward `len` bytes; None: give the frame back.
            let verdict = match RxFrame::parse(chunk, desc.len as usize) {
                Ok(mut frame) => {
                    let tos = frame.buf[15];
                    match f(&mut frame) {
                        Verdict::Forward {
                            from,
                            to,
                            to_mac,
                            len,
                        } if len <= frame.capacity() => {
                            Some(write_headers(frame.buf, mac, to_mac, from, to, tos, len))
                        }
                        _ => {
                            self.stats.dropped += 1;
                            None
                        }
                    }
                }
                Err(_) => {
                    self.stats.bad += 1;
                    None
                }
            };
            match verdict {
                Some(len) if self.tx.free(1) >= 1 => {
                    self.tx.push(libc::xdp_desc {
                        addr: desc.addr,
                        len: len as u32,
                        options: 0,
                    });
                    self.unkicked += 1;
                    self.stats.forwarded += 1;
                }
                Some(_) => {
                    self.stats.tx_full += 1;
                    self.free.push(base);
                }
                None => self.free.push(base),
            }
        }
        if n > 0 {
            self.rx.release(n);
            self.stats.received += u64::from(n);
        }
        if self.unkicked > 0 {
            self.tx.submit();
        }
        self.refill();
        n as usize
    }

    /// Puts a new frame carrying `payload` from `from` to `to` (next hop `to_mac`) on the
    /// TX ring, for traffic that is not a forwarded frame. False when no frame is free or
    /// the TX ring is full (counted in `tx_full`). Sent on the next [`flush`](Self::flush).
    pub fn send(
        &mut self,
        from: SocketAddrV4,
        to: SocketAddrV4,
        to_mac: [u8; 6],
        payload: &[u8],
    ) -> bool {
        if payload.len() > FRAME_SIZE - HEADERS {
            self.stats.tx_full += 1;
            return false;
        }
        let mac = self.mac;
        self.transmit(|buf| {
            buf[HEADERS..HEADERS + payload.len()].copy_from_slice(payload);
            write_headers(buf, mac, to_mac, from, to, 0, payload.len())
        })
    }

    /// Puts a whole Ethernet frame, as given, on the TX ring (for probes and tests). False
    /// when it does not fit a frame, no frame is free or the TX ring is full.
    pub fn send_frame(&mut self, frame: &[u8]) -> bool {
        if frame.is_empty() || frame.len() > FRAME_SIZE {
            self.stats.tx_full += 1;
            return false;
        }
        self.transmit(|buf| {
            buf[..frame.len()].copy_from_slice(frame);
            frame.len()
        })
    }

    fn transmit(&mut self, build: impl FnOnce(&mut [u8]) -> usize) -> bool {
        if self.free.is_empty() {
            self.reap();
        }
        if self.tx.free(1) == 0 {
            self.stats.tx_full += 1;
            return false;
        }
        let Some(addr) = self.free.pop() else {
            self.stats.tx_full += 1;
            return false;
        };
        let buf = self.chunk_mut(addr).expect("a free frame is in the UMEM");
        let len = build(buf);
        self.tx.push(libc::xdp_desc {
            addr,
            len: len as u32,
            options: 0,
        });
        self.tx.submit();
        self.unkicked += 1;
        self.stats.sent += 1;
        true
    }

    /// Kicks the kernel to send what is on the TX ring. In copy mode the kernel sends at
    /// most 32 frames per kick and says `EAGAIN` while more wait, so this kicks until the
    /// ring is drained.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.unkicked == 0 {
            return Ok(());
        }
        self.unkicked = 0;
        loop {
            // SAFETY: sendto with no data on an AF_XDP socket: a TX kick.
            let r = unsafe {
                libc::sendto(
                    self.xsk.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                )
            };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => continue,
                // The driver queue is busy or out of buffers: what is left goes on the
                // next kick.
                Some(libc::EBUSY | libc::ENOBUFS) => {
                    self.unkicked = 1;
                    return Ok(());
                }
                _ => return Err(e),
            }
        }
    }

    /// The socket's descriptor: readable when the RX ring holds frames (for a `poll` or an
    /// io_uring poll next to the relay's sockets).
    pub fn fd(&self) -> RawFd {
        self.xsk.as_raw_fd()
    }

    /// The counters, with the kernel's drop counts for this socket.
    pub fn stats(&self) -> XdpStats {
        let mut s = self.stats;
        // SAFETY: an all-zero xdp_statistics is a valid value, overwritten by the kernel.
        let mut k: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        if getsockopt(self.xsk.as_raw_fd(), libc::XDP_STATISTICS, &mut k).is_ok() {
            s.kernel_rx_dropped = k.rx_dropped;
            s.kernel_rx_ring_full = k.rx_ring_full;
            s.kernel_fill_empty = k.rx_fill_ring_empty_descs;
            s.kernel_tx_invalid = k.tx_invalid_descs;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; FRAME_SIZE];
        buf[HEADERS..HEADERS + payload.len()].copy_from_slice(payload);
        let from = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 4000);
        let to = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 5000);
        let len = write_headers(&mut buf, [1; 6], [2; 6], from, to, 0xb8, payload.len());
        buf.truncate(len);
        buf
    }

    #[test]
    fn parses_what_it_builds() {
        let mut buf = frame(b"hello");
        let len = buf.len();
        let f = RxFrame::parse(&mut buf, len).unwrap();
        assert_eq!(f.src, "10.0.0.1:4000".parse().unwrap());
        assert_eq!(f.dst_port, 5000);
        assert_eq!(f.dst_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!((f.src_mac, f.dst_mac), ([1; 6], [2; 6]));
        assert_eq!(f.payload(), b"hello");
    }

    #[test]
    fn checksums_verify_to_zero() {
        let buf = frame(b"odd-length payload!");
        assert_eq!(checksum_fold(checksum_add(0, &buf[14..34])), 0);
        let udp = &buf[34..];
        let mut sum = checksum_add(0, &buf[26..34]); // source and destination addresses
        sum += u32::from(IPPROTO_UDP) + udp.len() as u32;
        assert_eq!(checksum_fold(checksum_add(sum, udp)), 0);
    }

    #[test]
    fn rejects_every_truncation_and_bad_length() {
        let good = frame(&[7u8; 40]);
        for cut in 0..good.len() {
            let mut buf = good[..cut].to_vec();
            assert!(
                RxFrame::parse(&mut buf, cut).is_err(),
                "accepted a frame cut at {cut}"
            );
        }
        // A length beyond the buffer.
        let mut buf = good.clone();
        assert_eq!(
            RxFrame::parse(&mut buf, good.len() + 1).unwrap_err(),
            FrameError::Truncated
        );
        // UDP length beyond the IP datagram, and below its header.
        for udp_len in [49u16, 7] {
            let mut buf = good.clone();
            buf[38..40].copy_from_slice(&udp_len.to_be_bytes());
            assert_eq!(
                RxFrame::parse(&mut buf, good.len()).unwrap_err(),
                FrameError::Truncated
            );
        }
        // IP total length beyond the frame.
        let mut buf = good.clone();
        buf[16..18].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(
            RxFrame::parse(&mut buf, good.len()).unwrap_err(),
            FrameError::Truncated
        );
        // Options, a fragment, TCP, ARP.
        for (at, value) in [(14, 0x46), (20, 0x20), (23, 6), (12, 0x08)] {
            let mut buf = good.clone();
            buf[at] = value;
            if at == 12 {
                buf[13] = 0x06;
            }
            assert_eq!(
                RxFrame::parse(&mut buf, good.len()).unwrap_err(),
                FrameError::NotUdp4
            );
        }
        // Garbage never panics.
        let mut state = 0x1234_5678u32;
        for len in 0..200 {
            let mut buf: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            let _ = RxFrame::parse(&mut buf, len);
        }
    }

    #[test]
    fn padding_after_the_datagram_is_not_payload() {
        let mut buf = frame(b"ab");
        buf.resize(60, 0); // Ethernet minimum
        let f = RxFrame::parse(&mut buf, 60).unwrap();
        assert_eq!(f.payload(), b"ab");
    }

    #[test]
    fn the_program_jumps_land_on_the_pass_label() {
        let p = program(3, 4);
        let pass = p.len() - 2;
        for (i, ins) in p.iter().enumerate() {
            if ins.code & 0x07 == 0x05 && ins.code != CALL && ins.code != EXIT {
                assert_eq!(
                    i as i64 + 1 + i64::from(ins.off),
                    pass as i64,
                    "jump at {i}"
                );
            }
        }
    }
}
