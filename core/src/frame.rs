//! The frame header ABI, byte-exact with Linux 3.10–4.5 `struct nl_mmap_hdr`,
//! and the five frame statuses.

/// `SOL_NETLINK`: the socket level of netlink options.
pub const SOL_NETLINK: i32 = 270;
/// `NETLINK_RX_RING`: setsockopt option that configures the receive ring.
pub const NETLINK_RX_RING: i32 = 6;
/// `NETLINK_TX_RING`: setsockopt option that configures the transmit ring.
pub const NETLINK_TX_RING: i32 = 7;
/// `NL_MMAP_MSG_ALIGNMENT`: frame sizes are multiples of this.
pub const MSG_ALIGNMENT: u32 = 4;
/// `NL_MMAP_HDRLEN`: size of the frame header; the payload starts here.
pub const HDRLEN: usize = 24;

/// Byte offsets of the header words inside a frame.
pub(crate) mod offset {
    pub const STATUS: usize = 0;
    pub const LEN: usize = 4;
    pub const GROUP: usize = 8;
    pub const PID: usize = 12;
    pub const UID: usize = 16;
    pub const GID: usize = 20;
}

/// Who owns a frame and what it holds (`nm_status`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// `NL_MMAP_STATUS_UNUSED`: free; the producer may reserve it.
    Unused = 0,
    /// `NL_MMAP_STATUS_RESERVED`: the producer is building a message in it.
    Reserved = 1,
    /// `NL_MMAP_STATUS_VALID`: holds a message of `nm_len` bytes (0: aborted, release it).
    Valid = 2,
    /// `NL_MMAP_STATUS_COPY`: the message travels out of band; read it from the socket now.
    Copy = 3,
    /// `NL_MMAP_STATUS_SKIP`: the consumer deferred it; the producer steps over it.
    Skip = 4,
}

impl Status {
    /// Decodes a raw status word; `None` for a value no honest peer writes.
    pub const fn from_raw(raw: u32) -> Option<Status> {
        match raw {
            0 => Some(Status::Unused),
            1 => Some(Status::Reserved),
            2 => Some(Status::Valid),
            3 => Some(Status::Copy),
            4 => Some(Status::Skip),
            _ => None,
        }
    }

    /// The raw status word.
    pub const fn raw(self) -> u32 {
        self as u32
    }
}

/// The frame header, `struct nl_mmap_hdr`. In shared memory the words are
/// accessed atomically one by one; this struct is the ABI reference and a
/// snapshot type.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameHeader {
    /// `nm_status`: a [`Status`] value.
    pub status: u32,
    /// `nm_len`: payload length in bytes.
    pub len: u32,
    /// `nm_group`: destination multicast group.
    pub group: u32,
    /// `nm_pid`: sender port id.
    pub pid: u32,
    /// `nm_uid`: sender user id.
    pub uid: u32,
    /// `nm_gid`: sender group id.
    pub gid: u32,
}

/// The header fields besides status and length: the delivery metadata a
/// producer may set and a consumer reads (group and sender credentials).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FrameMeta {
    /// Multicast group the message was sent to (0: unicast).
    pub group: u32,
    /// Sender port id (netlink) or process id (memfd).
    pub pid: u32,
    /// Sender user id.
    pub uid: u32,
    /// Sender group id.
    pub gid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn header_matches_libc_nl_mmap_hdr() {
        assert_eq!(size_of::<FrameHeader>(), size_of::<libc::nl_mmap_hdr>());
        assert_eq!(size_of::<FrameHeader>(), HDRLEN);
        assert_eq!(
            offset_of!(FrameHeader, status),
            offset_of!(libc::nl_mmap_hdr, nm_status)
        );
        assert_eq!(
            offset_of!(FrameHeader, len),
            offset_of!(libc::nl_mmap_hdr, nm_len)
        );
        assert_eq!(
            offset_of!(FrameHeader, group),
            offset_of!(libc::nl_mmap_hdr, nm_group)
        );
        assert_eq!(
            offset_of!(FrameHeader, pid),
            offset_of!(libc::nl_mmap_hdr, nm_pid)
        );
        assert_eq!(
            offset_of!(FrameHeader, uid),
            offset_of!(libc::nl_mmap_hdr, nm_uid)
        );
        assert_eq!(
            offset_of!(FrameHeader, gid),
            offset_of!(libc::nl_mmap_hdr, nm_gid)
        );
        assert_eq!(offset_of!(FrameHeader, status), offset::STATUS);
        assert_eq!(offset_of!(FrameHeader, len), offset::LEN);
        assert_eq!(offset_of!(FrameHeader, group), offset::GROUP);
        assert_eq!(offset_of!(FrameHeader, pid), offset::PID);
        assert_eq!(offset_of!(FrameHeader, uid), offset::UID);
        assert_eq!(offset_of!(FrameHeader, gid), offset::GID);
    }

    #[test]
    fn constants_match_libc() {
        assert_eq!(SOL_NETLINK, libc::SOL_NETLINK);
        assert_eq!(NETLINK_RX_RING, libc::NETLINK_RX_RING);
        assert_eq!(NETLINK_TX_RING, libc::NETLINK_TX_RING);
        assert_eq!(size_of::<crate::Geometry>(), size_of::<libc::nl_mmap_req>());
    }

    #[test]
    fn status_values_are_the_kernel_abi() {
        // <linux/netlink.h>, enum nl_mmap_status (v3.10–v4.5).
        assert_eq!(Status::Unused.raw(), 0);
        assert_eq!(Status::Reserved.raw(), 1);
        assert_eq!(Status::Valid.raw(), 2);
        assert_eq!(Status::Copy.raw(), 3);
        assert_eq!(Status::Skip.raw(), 4);
        for raw in 0..5 {
            assert_eq!(Status::from_raw(raw).map(Status::raw), Some(raw));
        }
        assert_eq!(Status::from_raw(5), None);
        assert_eq!(Status::from_raw(u32::MAX), None);
    }
}
